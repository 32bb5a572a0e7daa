// Routes `r1 inspect`'s requests: "/" is the page, "/api/..." the JSON API
// (docs/inspector.md). Runs are addressed by their index in the command
// line's list, so no request can name a file; unknown parameters are
// refused. API errors are JSON {"error": ...} (400 a bad request, 404 an
// unknown run or route, 500 a database that cannot be read); anything else
// gets an HTML error page.
#pragma once

#include <string>
#include <vector>

#include "inspect/http_server.h"
#include "inspect/inspect_sources.h"
#include "inspect/request_target.h"

namespace r1 {

class InspectApi {
 public:
  explicit InspectApi(std::vector<InspectSource> sources) : sources_(std::move(sources)) {}
  HttpReply get(const std::string& target) const;

 private:
  HttpReply api(const RequestTarget& t) const;
  HttpReply run_api(const InspectSource& source, const RequestTarget& t) const;
  std::vector<InspectSource> sources_;
};

// The page (inspect/page.html, embedded at build time: inspect_page.cc).
extern const char* const kInspectPage;

}  // namespace r1
