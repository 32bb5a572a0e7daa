#include "inspect/request_target.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(RequestTarget, SplitsAndDecodesPathAndQuery) {
  RequestTarget t = parse_request_target("/api/runs/0/search?q=a+b%3D1&limit=5&&flag").value();
  EXPECT_EQ(t.segments, (std::vector<std::string>{"api", "runs", "0", "search"}));
  EXPECT_EQ(t.query.at("q"), "a b=1");
  EXPECT_EQ(*int_param(t, "limit").value(), 5);
  EXPECT_EQ(t.query.at("flag"), "");
  EXPECT_FALSE(text_param(t, "flag"));
  EXPECT_TRUE(parse_request_target("/").value().segments.empty());
}

TEST(RequestTarget, RefusesDotSegmentsEscapesAndBadNumbers) {
  for (const char* bad : {"/api/runs/0/../../etc/passwd", "/api/runs/%2e%2e/x", "/a//b", "/a/%2Fetc", "/a/%zz",
                          "relative", "/a/%00", "/a/.", "/a\\..\\b/c/%5c"})
    EXPECT_FALSE(parse_request_target(bad).ok()) << bad;
  RequestTarget t = parse_request_target("/x?limit=5x&db=/etc/passwd").value();
  EXPECT_NE(int_param(t, "limit").status().message().find("'limit' must be an integer"), std::string::npos);
  EXPECT_NE(allow_only(t, {"limit"}).message().find("unknown parameter 'db'"), std::string::npos);
  EXPECT_FALSE(index_segment("-1", "step").ok());
  EXPECT_EQ(index_segment("12", "step").value(), 12);
}

}  // namespace
}  // namespace r1
