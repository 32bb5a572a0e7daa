#include "rollout/remote_rollout_worker.h"

#include <boost/asio.hpp>

#include <array>
#include <chrono>

#include "rollout/wire_auth.h"
#include "rollout/wire_deadline.h"
#include "rollout/wire_endpoint.h"
#include "rollout/wire_frame.h"
#include "rollout/wire_mac.h"
#include "util/json.h"

namespace r1 {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

Clock::time_point after(double seconds) { return Clock::now() + wire_duration(seconds); }

// One connection driven step by step, each step bounded by a deadline: the
// asynchronous operation runs on a private io_context until it completes or
// the deadline passes, when the socket is closed and `late` is the error.
class Channel {
 public:
  Status connect(const HostPort& to, Clock::time_point deadline, const std::string& late) {
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

  Status write(const std::string& bytes, Clock::time_point deadline, const std::string& late) {
    error_code ec;
    bool done = false;
    asio::async_write(socket_, asio::buffer(bytes), [&](const error_code& e, size_t) {
      ec = e;
      done = true;
    });
    if (!wait(done, deadline, [&] { close(); })) return Status::error(late);
    if (ec) return Status::error("sending failed: " + ec.message());
    return Status();
  }

  Result<Frame> read_frame(Clock::time_point deadline, const std::string& late) {
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

  // A frame's bytes, sealed once the session is on.
  Status send(const std::string& header_json, Clock::time_point deadline, const std::string& late) {
    R1_ASSIGN_OR_RETURN(std::string bytes, sealer_.seal(header_json));
    return write(bytes, deadline, late);
  }

  void set_limits(FrameLimits limits) { parser_.set_limits(limits); }
  // Every frame after the welcome, both ways, carries its MAC.
  void start_session(const SessionKeys& keys) {
    parser_.expect_mac(keys.worker_to_learner);
    sealer_ = FrameSealer(keys.learner_to_worker);
  }

 private:
  // Runs handlers until `done` or the deadline. On the deadline, `abort`
  // cancels the operation, whose handler then runs (it refers to the
  // caller's locals) before this returns false.
  template <typename Abort>
  bool wait(const bool& done, Clock::time_point deadline, Abort abort) {
    io_.restart();
    while (!done && Clock::now() < deadline) io_.run_one_until(deadline);
    if (done) return true;
    abort();
    io_.restart();
    while (!done) io_.run_one();
    return false;
  }

  void close() {
    error_code ignored;
    socket_.close(ignored);
  }

  asio::io_context io_;
  tcp::socket socket_{io_};
  FrameParser parser_{kHandshakeFrameLimits};
  FrameSealer sealer_;
  std::array<char, 64 * 1024> buffer_;
  std::string pending_;  // bytes read past the end of the last frame
};

Status check_answers(const RolloutRequest& request, const RolloutResult& result) {
  if (result.step != request.step || result.policy_version != request.policy_version)
    return Status::error("answered step " + std::to_string(result.step) + " with policy version " +
                         std::to_string(result.policy_version) + ", asked for step " + std::to_string(request.step) +
                         " with version " + std::to_string(request.policy_version));
  int64_t g = request.sampling.num_generations;
  if (result.samples.size() != request.prompts.size() * static_cast<size_t>(g))
    return Status::error("answered " + std::to_string(result.samples.size()) + " samples, asked for " +
                         std::to_string(request.prompts.size() * g));
  for (size_t i = 0; i < result.samples.size(); ++i) {
    const Sample& s = result.samples[i];
    if (s.prompt_index != request.prompts[i / g].prompt_index || s.sample_index != static_cast<int64_t>(i % g))
      return Status::error("sample " + std::to_string(i) + " is (prompt " + std::to_string(s.prompt_index) +
                           ", sample " + std::to_string(s.sample_index) + "), not the one asked for at that place");
  }
  return Status();
}

std::string request_header(const RolloutRequest& request) {
  JsonWriter w;
  w.begin_object().key("type").value("rollout_request").key("request").raw(to_json(request)).end_object();
  return w.str();
}

Result<RolloutResult> read_result(const Frame& frame) {
  R1_RETURN_IF_ERROR(expect_frame_type(frame, "rollout_result"));
  R1_ASSIGN_OR_RETURN(const rapidjson::Value* json, frame_field(frame, "result"));
  return rollout_result_from_json(*json, "rollout result");
}

Result<RolloutResult> call(const RemoteWorkerOptions& o, const RolloutRequest& request) {
  R1_ASSIGN_OR_RETURN(HostPort to, parse_host_port(o.address, "rollout worker address"));
  Channel channel;
  Clock::time_point deadline = after(o.connect_timeout_s);
  std::string late = "no connection and handshake " + within_seconds(o.connect_timeout_s);
  R1_RETURN_IF_ERROR(channel.connect(to, deadline, late));

  LearnerHandshake handshake(o.key);
  R1_ASSIGN_OR_RETURN(std::string hello, handshake.hello());
  R1_RETURN_IF_ERROR(channel.write(hello, deadline, late));
  R1_ASSIGN_OR_RETURN(Frame challenge, channel.read_frame(deadline, late));
  R1_ASSIGN_OR_RETURN(std::string proof, handshake.on_challenge(challenge));
  R1_RETURN_IF_ERROR(channel.write(proof, deadline, late));
  R1_ASSIGN_OR_RETURN(Frame welcome, channel.read_frame(deadline, late));
  R1_RETURN_IF_ERROR(handshake.on_welcome(welcome));
  channel.start_session(handshake.session());

  channel.set_limits({.max_header_bytes = o.max_result_bytes, .max_payload_bytes = 0});
  deadline = after(o.request_timeout_s);
  late = "did not answer " + within_seconds(o.request_timeout_s);
  R1_RETURN_IF_ERROR(channel.send(request_header(request), deadline, late));
  R1_ASSIGN_OR_RETURN(Frame answer, channel.read_frame(deadline, late));
  R1_ASSIGN_OR_RETURN(RolloutResult result, read_result(answer));
  R1_RETURN_IF_ERROR(check_answers(request, result));
  return result;
}

}  // namespace

Result<RolloutResult> RemoteRolloutWorker::run(const RolloutRequest& request) {
  Result<RolloutResult> result = call(options_, request);
  if (!result.ok()) return result.status().with_context("rollout worker " + options_.address);
  return result;
}

}  // namespace r1
