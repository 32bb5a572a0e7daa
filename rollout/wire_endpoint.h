// HOST:PORT addresses of rollout workers, as --listen, --rollout-worker and
// configs spell them: "127.0.0.1:5555", "node7:5555", "[::1]:5555".
#pragma once

#include <cstdint>
#include <string>

#include "util/status.h"

namespace r1 {

struct HostPort {
  std::string host;  // without brackets
  uint16_t port = 0;
  std::string str() const;  // brackets around an IPv6 host
};

// Errors name `what` (the option or key) and the expected form.
Result<HostPort> parse_host_port(const std::string& text, const std::string& what);

}  // namespace r1
