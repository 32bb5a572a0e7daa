#include "rollout/wire_endpoint.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(WireEndpoint, ParsesHostsPortsAndBracketedIpv6) {
  Result<HostPort> v4 = parse_host_port("127.0.0.1:5555", "--listen");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 5555);
  Result<HostPort> v6 = parse_host_port("[::1]:0", "--listen");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->str(), "[::1]:0");
  EXPECT_EQ(parse_host_port("node7:65535", "x")->str(), "node7:65535");
}

TEST(WireEndpoint, RejectsWhatIsNotHostColonPort) {
  for (const char* bad : {"", "5555", "host", "host:", ":5555", "::1:5555", "[]:1", "[::1:5", "h:12a", "h:-1"})
    EXPECT_EQ(parse_host_port(bad, "--listen").status().message(),
              std::string("--listen: '") + bad + "' must be HOST:PORT (e.g. 127.0.0.1:5555 or [::1]:5555)")
        << bad;
  EXPECT_EQ(parse_host_port("h:70000", "--listen").status().message(),
            "--listen: port 70000 is out of range (0-65535)");
}

}  // namespace
}  // namespace r1
