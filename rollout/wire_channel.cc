#include "rollout/wire_channel.h"

#include "rollout/wire_auth.h"
#include "rollout/wire_deadline.h"

namespace r1 {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

WireClock::time_point wire_deadline_after(double seconds) { return WireClock::now() + wire_duration(seconds); }

Result<std::unique_ptr<WireChannel>> WireChannel::open(const std::string& address, const std::string& key,
                                                       double connect_timeout_s) {
  R1_ASSIGN_OR_RETURN(HostPort to, parse_host_port(address, "rollout worker address"));
  std::unique_ptr<WireChannel> channel(new WireChannel());
  WireClock::time_point deadline = wire_deadline_after(connect_timeout_s);
  std::string late = "no connection and handshake " + within_seconds(connect_timeout_s);
  R1_RETURN_IF_ERROR(channel->connect(to, deadline, late));

  LearnerHandshake handshake(key);
  R1_ASSIGN_OR_RETURN(std::string hello, handshake.hello());
  R1_RETURN_IF_ERROR(channel->write(hello, deadline, late));
  R1_ASSIGN_OR_RETURN(Frame challenge, channel->read_frame(deadline, late));
  R1_ASSIGN_OR_RETURN(std::string proof, handshake.on_challenge(challenge));
  R1_RETURN_IF_ERROR(channel->write(proof, deadline, late));
  R1_ASSIGN_OR_RETURN(Frame welcome, channel->read_frame(deadline, late));
  R1_RETURN_IF_ERROR(handshake.on_welcome(welcome));
  channel->start_session(handshake.session());
  return channel;
}

Status WireChannel::connect(const HostPort& to, WireClock::time_point deadline, const std::string& late) {
  tcp::resolver resolver(io_);
  error_code ec;
  tcp::resolver::results_type endpoints;
  bool done = false;
  resolver.async_resolve(to.host, std::to_string(to.port), tcp::resolver::numeric_service,
                         [&](const error_code& e, tcp::resolver::results_type r) {
                           ec = e;
                           endpoints = std::move(r);
                           done = true;
                         });
  if (!wait(done, deadline, [&] { resolver.cancel(); })) return Status::error(late);
  if (ec) return Status::error("cannot resolve '" + to.host + "': " + ec.message());
  done = false;
  asio::async_connect(socket_, endpoints, [&](const error_code& e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  if (!wait(done, deadline, [&] { close(); })) return Status::error(late);
  if (ec) return Status::error("cannot connect: " + ec.message());
  socket_.set_option(tcp::no_delay(true), ec);  // each handshake step is one small frame
  return Status();
}

Status WireChannel::write(std::string_view bytes, WireClock::time_point deadline, const std::string& late) {
  error_code ec;
  bool done = false;
  asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()), [&](const error_code& e, size_t) {
    ec = e;
    done = true;
  });
  if (!wait(done, deadline, [&] { close(); })) return Status::error(late);
  if (ec) return Status::error("sending failed: " + ec.message());
  return Status();
}

Status WireChannel::send(const std::string& header_json, std::string_view payload, WireClock::time_point deadline,
                         const std::string& late) {
  R1_ASSIGN_OR_RETURN(std::string bytes, sealer_.seal(header_json, payload));
  return write(bytes, deadline, late);
}

Result<Frame> WireChannel::read_frame(WireClock::time_point deadline, const std::string& late) {
  for (;;) {
    while (!pending_.empty()) {
      R1_ASSIGN_OR_RETURN(size_t used, parser_.feed(pending_));
      pending_.erase(0, used);
      if (parser_.has_frame()) return parser_.take();
    }
    error_code ec;
    size_t n = 0;
    bool done = false;
    socket_.async_read_some(asio::buffer(buffer_), [&](const error_code& e, size_t k) {
      ec = e;
      n = k;
      done = true;
    });
    if (!wait(done, deadline, [&] { close(); })) return Status::error(late);
    if (ec == asio::error::eof) {
      Status end = parser_.at_end();
      return Status::error("closed the connection" + (end.ok() ? std::string() : ": " + end.message()));
    }
    if (ec) return Status::error("receiving failed: " + ec.message());
    pending_.append(buffer_.data(), n);
  }
}

void WireChannel::start_session(const SessionKeys& keys) {
  // Every frame after the welcome, both ways, carries its MAC.
  parser_.expect_mac(keys.worker_to_learner);
  sealer_ = FrameSealer(keys.learner_to_worker);
}

template <typename Abort>
bool WireChannel::wait(const bool& done, WireClock::time_point deadline, Abort abort) {
  io_.restart();
  while (!done && WireClock::now() < deadline) io_.run_one_until(deadline);
  if (done) return true;
  abort();
  io_.restart();
  while (!done) io_.run_one();
  return false;
}

void WireChannel::close() {
  error_code ignored;
  socket_.close(ignored);
}

}  // namespace r1
