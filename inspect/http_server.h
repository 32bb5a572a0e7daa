// A small HTTP/1.1 server on Boost.Beast for `r1 inspect`: GET and HEAD
// only, bodies refused, one handler for every request. Reads and writes
// have deadlines (a silent or slow client is dropped), connections beyond a
// limit are closed, and a server bound to loopback answers only requests
// whose Host is a loopback name (so a web page cannot reach it by DNS
// rebinding). Requests run on a few threads, so one slow query does not
// stall the page's other requests.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "util/status.h"

namespace r1 {

struct HttpReply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Answers one GET request target, e.g. "/api/runs/0/steps?every=2".
using HttpHandler = std::function<HttpReply(const std::string& target)>;

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8765";  // HOST:PORT; port 0 picks a free one
  double read_timeout_s = 30;             // a request's header, and the idle time between requests
  double write_timeout_s = 60;            // a reply
  int threads = 4;
  int max_connections = 64;  // more are closed at once
};

class HttpServer {
 public:
  // Binds the listening socket; errors name the address.
  static Result<std::unique_ptr<HttpServer>> bind(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  std::string address() const;  // the address bound (the real port when 0 was asked for)
  // Serves until stop() or SIGINT/SIGTERM.
  void run();
  void stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1
