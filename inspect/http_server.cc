#include "inspect/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "rollout/wire_listener.h"

namespace r1 {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr size_t kMaxHeaderBytes = 16 * 1024;

std::chrono::steady_clock::duration seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

// The host part of a Host header: "localhost:8765" -> "localhost", "[::1]:80" -> "[::1]".
std::string host_name(std::string_view host) {
  if (!host.empty() && host.front() == '[') return std::string(host.substr(0, host.find(']') + 1));
  return std::string(host.substr(0, host.find(':')));
}

bool loopback_host(std::string_view host) {
  std::string name = host_name(host);
  return name == "localhost" || name == "127.0.0.1" || name == "[::1]";
}

struct Shared {
  HttpServerOptions options;
  HttpHandler handler;
  bool loopback_only = false;  // bound to a loopback address: check Host
  std::atomic<int> live{0};
};

HttpReply plain_error(unsigned status, const std::string& message) {
  return {status, "text/plain; charset=utf-8", message + "\n"};
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Shared& shared) : stream_(std::move(socket)), shared_(shared) { ++shared_.live; }
  ~Session() { --shared_.live; }

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(0);  // GET and HEAD carry no body
    stream_.expires_after(seconds(shared_.options.read_timeout_s));
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](error_code ec, size_t) {
      if (ec) return self->close();  // timeout, a closed connection or a malformed request
      self->answer(self->parser_->release());
    });
  }

  HttpReply reply_for(const http::request<http::empty_body>& req) const {
    if (req.method() != http::verb::get && req.method() != http::verb::head)
      return plain_error(405, "only GET and HEAD are served");
    if (shared_.loopback_only && !loopback_host(std::string(req[http::field::host])))
      return plain_error(403, "this server answers only requests to localhost");
    return shared_.handler(std::string(req.target()));
  }

  void answer(const http::request<http::empty_body>& req) {
    HttpReply reply;
    try {
      reply = reply_for(req);
    } catch (const std::exception& e) {  // a handler bug must not end the server
      reply = plain_error(500, std::string("internal error: ") + e.what());
    }
    auto res =
        std::make_shared<http::response<http::string_body>>(static_cast<http::status>(reply.status), req.version());
    res->set(http::field::server, "r1 inspect");
    res->set(http::field::content_type, reply.content_type);
    res->set(http::field::cache_control, "no-store");
    res->set("X-Content-Type-Options", "nosniff");
    // The page may talk only to this server: no network, no CDN.
    res->set("Content-Security-Policy",
             "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
             "connect-src 'self'");
    res->keep_alive(req.keep_alive());
    res->body() = std::move(reply.body);
    res->prepare_payload();
    if (req.method() == http::verb::head) res->body().clear();
    stream_.expires_after(seconds(shared_.options.write_timeout_s));
    http::async_write(stream_, *res, [self = shared_from_this(), res](error_code ec, size_t) {
      if (ec || !res->keep_alive()) return self->close();
      self->read();
    });
  }

  void close() {
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  Shared& shared_;
};

}  // namespace

struct HttpServer::Impl {
  explicit Impl(HttpServerOptions options, HttpHandler handler) : io(options.threads), acceptor(asio::make_strand(io)) {
    shared.options = std::move(options);
    shared.handler = std::move(handler);
  }

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec && shared.live.load() < shared.options.max_connections)
        std::make_shared<Session>(std::move(socket), shared)->start();
      accept();  // a refused or failed connection never stops the server
    });
  }

  asio::io_context io;
  tcp::acceptor acceptor;
  Shared shared;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;

Result<std::unique_ptr<HttpServer>> HttpServer::bind(HttpServerOptions options, HttpHandler handler) {
  std::string listen = options.listen;
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  R1_RETURN_IF_ERROR(listen_on(impl->acceptor, listen));
  error_code ec;
  impl->shared.loopback_only = impl->acceptor.local_endpoint(ec).address().is_loopback();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::string HttpServer::address() const {
  error_code ec;
  return endpoint_text(impl_->acceptor.local_endpoint(ec));
}

void HttpServer::run() {
  asio::signal_set signals(impl_->io, SIGINT, SIGTERM);
  signals.async_wait([this](const error_code& ec, int) {
    if (!ec) stop();
  });
  impl_->accept();
  std::vector<std::thread> threads;
  for (int i = 1; i < impl_->shared.options.threads; ++i) threads.emplace_back([this] { impl_->io.run(); });
  impl_->io.run();
  for (std::thread& t : threads) t.join();
}

void HttpServer::stop() { impl_->io.stop(); }

}  // namespace r1
