// HttpServer over real loopback sockets: answers, refusals, and that a
// client who sends nothing is dropped (its read deadline, shortened here).
#include "inspect/http_server.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <chrono>
#include <thread>

namespace r1 {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

class ServerThread {
 public:
  explicit ServerThread(HttpServerOptions options) {
    options.listen = "127.0.0.1:0";
    server_ = std::move(HttpServer::bind(options, [](const std::string& target) {
                          return HttpReply{200, "text/plain", "you asked for " + target};
                        }).value());
    thread_ = std::thread([this] { server_->run(); });
  }
  ~ServerThread() {
    server_->stop();
    thread_.join();
  }
  uint16_t port() const { return static_cast<uint16_t>(std::stoi(server_->address().substr(10))); }

 private:
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

// Sends `request` and reads until the server closes the connection (or 20 s
// pass, which fails the test); returns what came back.
std::string exchange(uint16_t port, const std::string& request) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::write(socket, asio::buffer(request));
  std::string reply;
  char buf[4096];
  boost::system::error_code ec;
  bool done = false;
  std::function<void()> read_more = [&] {
    socket.async_read_some(asio::buffer(buf), [&](boost::system::error_code e, size_t n) {
      reply.append(buf, n);
      if (e)
        done = true;
      else
        read_more();
    });
  };
  read_more();
  io.run_for(std::chrono::seconds(20));
  EXPECT_TRUE(done) << "the server did not close the connection";
  return reply;
}

TEST(HttpServer, AnswersGetAndClosesWhenAsked) {
  ServerThread server({});
  std::string reply = exchange(server.port(), "GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("you asked for /a?b=1"), std::string::npos);
  EXPECT_NE(reply.find("Content-Security-Policy: default-src 'none'"), std::string::npos);
}

TEST(HttpServer, RefusesOtherMethodsHostsAndBodies) {
  ServerThread server({});
  std::string post = exchange(server.port(), "POST / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u) << post;
  std::string host = exchange(server.port(), "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(host.rfind("HTTP/1.1 403", 0), 0u) << host;
  // A body on a GET is more than the server reads: the connection is dropped unanswered.
  std::string body = exchange(server.port(), "GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(body, "");
}

TEST(HttpServer, DropsAClientThatSendsNothing) {
  HttpServerOptions options;
  options.read_timeout_s = 0.2;
  ServerThread server(options);
  EXPECT_EQ(exchange(server.port(), ""), "");  // closed by the deadline, without a reply
  std::string partial = exchange(server.port(), "GET / HTTP/1.1\r\nHost: loc");  // a header never finished
  EXPECT_EQ(partial, "");
}

}  // namespace
}  // namespace r1
