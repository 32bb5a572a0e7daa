#include "rollout/rollout_server.h"

#include <boost/asio.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>

#include "rollout/wire_auth.h"
#include "rollout/wire_deadline.h"
#include "rollout/wire_listener.h"
#include "rollout/wire_frame.h"
#include "rollout/wire_mac.h"
#include "util/json.h"

namespace r1 {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// Reasons may quote what a peer sent (a frame's type): control characters
// become '?', so no client can forge or break lines of the log.
void log_line(std::string line) {
  for (char& c : line)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  std::fprintf(stderr, "r1 rollout serve: %s\n", line.c_str());
  std::fflush(stderr);
}

std::string result_header(const RolloutResult& result) {
  JsonWriter w;
  w.begin_object().key("type").value("rollout_result").key("result").raw(to_json(result)).end_object();
  return w.str();
}

// Samples with `policy` when it is the version the request asks for. A
// request that throws (LibTorch rejects a shape, memory runs out) fails that
// request only: the worker keeps serving its other learners.
Result<RolloutResult> run_guarded(const ServedPolicy& policy, const RolloutRequest& request) {
  if (request.policy_version != policy.version)
    return Status::error("rollout request: policy version " + std::to_string(request.policy_version) +
                         " asked for, this worker serves version " + std::to_string(policy.version));
  try {
    return policy.worker->run(request);
  } catch (const std::exception& e) {
    return Status::error(std::string("the worker failed: ") + e.what());
  }
}

// What every connection shares; outlives them (RolloutServer::Impl).
struct Shared {
  RolloutServerOptions options;
  ServingWorkerFactory make_worker;  // set by run()
  std::atomic<int> live_connections{0};
  asio::thread_pool* model = nullptr;  // Impl::model

  // The version served: read by the model thread for each request,
  // replaced by the network thread when a push commits. A request holds the
  // version it runs with, so a swap never changes a request under way.
  std::shared_ptr<const ServedPolicy> policy() const {
    std::lock_guard<std::mutex> lock(mutex);
    return served;
  }
  void install(std::shared_ptr<const ServedPolicy> next) {
    std::lock_guard<std::mutex> lock(mutex);
    served = std::move(next);
  }

 private:
  mutable std::mutex mutex;
  std::shared_ptr<const ServedPolicy> served;
};

std::string ack_header(const ServedPolicy& policy) {
  JsonWriter w;
  w.begin_object().key("type").value("weights_ack").key("version").value(policy.version);
  w.key("digest").value(hex_encode(policy.digest)).end_object();
  return w.str();
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, Shared& shared)
      : socket_(std::move(socket)), deadline_(socket_.get_executor()), shared_(shared), handshake_(shared.options.key) {
    ++shared_.live_connections;
    error_code ec;
    // Small frames go out at once: no Nagle delay on a handshake step, nor
    // on an error frame written just before the close.
    socket_.set_option(tcp::no_delay(true), ec);
    tcp::endpoint peer = socket_.remote_endpoint(ec);
    peer_ = ec ? std::string("unknown peer") : endpoint_text(peer);
  }
  ~Connection() { --shared_.live_connections; }

  void start() {
    arm(shared_.options.handshake_timeout_s, "the handshake");
    pump();
  }

 private:
  enum class Phase { kHello, kProof, kRequest };

  // One deadline per connection; arming again replaces it. The generation
  // tells a wait that completed just before it was replaced from the live one.
  void arm(double seconds, std::string what) {
    uint64_t generation = ++deadline_generation_;
    deadline_.expires_after(wire_duration(seconds));
    deadline_.async_wait([self = shared_from_this(), generation, seconds, what](const error_code& ec) {
      if (ec || generation != self->deadline_generation_) return;
      self->drop(what + " did not complete " + within_seconds(seconds));
    });
  }
  void disarm() {
    ++deadline_generation_;
    deadline_.cancel();
  }

  // Feeds buffered bytes to the parser: handles the frame they complete, or
  // reads more.
  void pump() {
    while (!pending_.empty()) {
      Result<size_t> used = parser_.feed(pending_);
      if (!used.ok()) return refuse(used.status().message());
      pending_.erase(0, *used);
      if (parser_.has_frame()) return on_frame(parser_.take());
    }
    socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this()](const error_code& ec, size_t n) {
      if (ec) return self->on_read_error(ec);
      self->pending_.append(self->buffer_.data(), n);
      self->pump();
    });
  }

  void on_read_error(const error_code& ec) {
    if (closed_) return;  // our own close (a deadline) ended the read
    if (ec != asio::error::eof) return drop("read failed: " + ec.message());
    Status end = parser_.at_end();
    if (!end.ok()) return drop("truncated: " + end.message());
    if (phase_ != Phase::kRequest) return drop("closed the connection during the handshake");
    drop("disconnected");
  }

  void on_frame(Frame frame) {
    switch (phase_) {
      case Phase::kHello: {
        Result<std::string> challenge = handshake_.on_hello(frame);
        if (!challenge.ok()) return refuse(challenge.status().message());
        preamble_sent_ = true;
        phase_ = Phase::kProof;
        return send(std::move(*challenge), [](Connection& c) { c.pump(); });
      }
      case Phase::kProof: {
        Result<std::string> welcome = handshake_.on_proof(frame);
        if (!welcome.ok()) return refuse(welcome.status().message());
        phase_ = Phase::kRequest;
        // Every frame after the welcome, both ways, carries its MAC.
        parser_.expect_mac(handshake_.session().learner_to_worker);
        sealer_ = FrameSealer(handshake_.session().worker_to_learner);
        parser_.set_limits({.max_header_bytes = shared_.options.max_request_bytes,
                            .max_payload_bytes = shared_.options.max_bucket_bytes});
        log_line(peer_ + ": authenticated");
        return send(std::move(*welcome), [](Connection& c) { c.wait_for_request(); });
      }
      case Phase::kRequest:
        if (frame.type == "weights_query") return reply(weights_held_header(*shared_.policy()));
        if (frame.type == "weights_begin") return on_weights_begin(frame);
        if (frame.type == "weights_bucket") return on_weights_bucket(frame);
        if (frame.type == "weights_commit") return on_weights_commit(frame);
        return on_request(frame);
    }
  }

  void on_weights_begin(const Frame& frame) {
    Status status = weights_.begin(frame, shared_.policy());
    if (!status.ok()) return reply(error_header(push_refused(status)));
    reply(R"({"type":"weights_ready"})");
  }

  // No answer: the learner reads nothing until its commit, which hears of a
  // bad bucket.
  void on_weights_bucket(const Frame& frame) {
    if (!weights_.receiving()) return reply(error_header("a 'weights_bucket' frame without a 'weights_begin'"));
    weights_.bucket(frame);
    wait_for_request();
  }

  void on_weights_commit(const Frame& frame) {
    if (!weights_.receiving()) return reply(error_header("a 'weights_commit' frame without a 'weights_begin'"));
    Result<std::shared_ptr<const ServedPolicy>> next = weights_.commit(frame, shared_.make_worker);
    if (!next.ok()) return reply(error_header(push_refused(next.status())));
    int64_t old = shared_.policy()->version;
    // Another connection may have installed this number since the push began.
    if ((*next)->version == old)
      return reply(error_header(push_refused(
          Status::error("version " + std::to_string(old) + " was installed by another push meanwhile"))));
    shared_.install(*next);
    log_line(peer_ + ": now serves policy version " + std::to_string((*next)->version) + " (was " +
             std::to_string(old) + ")");
    reply(ack_header(**next));
  }

  std::string push_refused(const Status& status) {
    std::string reason = status.message() + "; the push is refused, this worker still serves version " +
                         std::to_string(shared_.policy()->version);
    log_line(peer_ + ": " + reason);
    return reason;
  }

  void wait_for_request() {
    arm(shared_.options.read_timeout_s, "the next request");
    pump();
  }

  void on_request(const Frame& frame) {
    Result<RolloutRequest> request = read_request(frame);
    if (!request.ok()) return answer(request.status());
    disarm();  // the model may take long; nothing is read meanwhile
    heartbeats_ = 0;
    sampling_ = true;
    schedule_heartbeat();
    asio::post(*shared_.model, [self = shared_from_this(), request = std::move(*request)] {
      Result<RolloutResult> result = run_guarded(*self->shared_.policy(), request);
      asio::post(self->socket_.get_executor(),
                 [self, result = std::move(result)]() mutable { self->answer(std::move(result)); });
    });
  }

  Result<RolloutRequest> read_request(const Frame& frame) {
    R1_RETURN_IF_ERROR(expect_frame_type(frame, "rollout_request"));
    R1_ASSIGN_OR_RETURN(const rapidjson::Value* json, frame_field(frame, "request"));
    return rollout_request_from_json(*json, "rollout request");
  }

  // While the model samples, a heartbeat frame every interval tells the
  // learner this worker is alive, so it can tell a dead or partitioned worker
  // (no heartbeat) from a long request in seconds. A heartbeat is not sent
  // while another frame is being written; the answer waits for one that is.
  void schedule_heartbeat() {
    heartbeat_.expires_after(wire_duration(shared_.options.heartbeat_interval_s));
    heartbeat_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->closed_ || !self->sampling_ || !self->out_.empty()) return;
      Result<std::string> bytes = self->sealer_.seal(R"({"type":"heartbeat"})");
      if (!bytes.ok()) return self->drop("heartbeat: " + bytes.status().message());
      ++self->heartbeats_;
      self->send(std::move(*bytes), [](Connection& c) {
        if (c.held_answer_) return c.reply(*std::exchange(c.held_answer_, std::nullopt));
        if (c.sampling_) c.schedule_heartbeat();
      });
    });
  }

  // The result, or the error that replaced it; the connection stays open
  // for the learner's next request.
  void answer(Result<RolloutResult> result) {
    if (closed_) return;  // the learner went away (or timed out) meanwhile
    sampling_ = false;
    heartbeat_.cancel();
    if (result.ok())
      log_line(peer_ + ": answered step " + std::to_string(result->step) + " with " +
               std::to_string(result->samples.size()) + " samples after " + std::to_string(heartbeats_) +
               " heartbeats");
    if (!result.ok()) log_line(peer_ + ": request failed: " + result.status().message());
    std::string header = result.ok() ? result_header(*result) : error_header(result.status().message());
    if (!out_.empty()) {  // a heartbeat is on its way; the answer follows it
      arm(shared_.options.read_timeout_s, "writing the answer");
      held_answer_ = std::move(header);
      return;
    }
    reply(header);
  }

  // Sends a sealed frame, then waits for the learner's next one.
  void reply(const std::string& header_json) {
    Result<std::string> bytes = sealer_.seal(header_json);
    if (!bytes.ok()) bytes = sealer_.seal(error_header(bytes.status().message()));  // too large for a frame
    arm(shared_.options.read_timeout_s, "writing the answer");
    send(std::move(*bytes), [](Connection& c) { c.wait_for_request(); });
  }

  void send(std::string bytes, void (*then)(Connection&)) {
    out_ = std::move(bytes);
    asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this(), then](const error_code& ec, size_t) {
      std::string().swap(self->out_);  // a large result is not kept while the connection idles
      if (ec) return self->closed_ ? void() : self->drop("write failed: " + ec.message());
      then(*self);
    });
  }

  // Tells the peer why (after our preamble, so its parser can read it),
  // then closes; the deadline still bounds the write.
  void refuse(const std::string& reason) {
    log_line(peer_ + ": rejected: " + reason);
    std::string bytes = (preamble_sent_ ? std::string() : wire_preamble()) + *sealer_.seal(error_header(reason));
    preamble_sent_ = true;
    send(std::move(bytes), [](Connection& c) { c.close(); });
  }

  void drop(const std::string& reason) {
    if (closed_) return;
    log_line(peer_ + ": " + reason);
    close();
  }

  void close() {
    closed_ = true;
    disarm();
    heartbeat_.cancel();
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer deadline_;
  asio::steady_timer heartbeat_{socket_.get_executor()};
  bool sampling_ = false;                  // a request is on the model
  int64_t heartbeats_ = 0;                 // sent during the current request
  std::optional<std::string> held_answer_;  // waits for a heartbeat's write to finish
  uint64_t deadline_generation_ = 0;
  Shared& shared_;
  std::string peer_;
  Phase phase_ = Phase::kHello;
  WorkerHandshake handshake_;
  FrameParser parser_{kHandshakeFrameLimits};
  FrameSealer sealer_;      // active once the learner is authenticated
  WeightReceiver weights_;  // a push under way on this connection
  std::array<char, 64 * 1024> buffer_;
  std::string pending_;  // bytes read past the end of the last frame
  std::string out_;
  bool preamble_sent_ = false;
  bool closed_ = false;
};

}  // namespace

struct RolloutServer::Impl {
  explicit Impl(RolloutServerOptions options) {
    shared.options = std::move(options);
    shared.model = &model;
  }

  void accept() {
    acceptor.async_accept([this](const error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        // Out of file descriptors, say: try again shortly rather than spin.
        log_line("accept failed: " + ec.message());
        retry.expires_after(std::chrono::milliseconds(100));
        retry.async_wait([this](const error_code& e) { e ? void() : accept(); });
        return;
      }
      if (shared.live_connections >= shared.options.max_connections) {
        error_code ignored;
        log_line(endpoint_text(socket.remote_endpoint(ignored)) + ": closed: " +
                 std::to_string(shared.options.max_connections) + " connections are open (the most allowed)");
      } else {
        std::make_shared<Connection>(std::move(socket), shared)->start();
      }
      accept();
    });
  }

  // Destroyed bottom up: the model thread joins (and drops the requests
  // still queued) while the io_context its answers are posted to exists;
  // then the io_context drops its handlers, whose connections count
  // themselves out of `shared`, which goes last.
  Shared shared;
  asio::io_context io;
  // One thread: one request at a time on the model; the network thread
  // stays free for handshakes and other clients meanwhile.
  asio::thread_pool model{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer retry{io};
};

RolloutServer::RolloutServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RolloutServer::~RolloutServer() = default;

Result<std::unique_ptr<RolloutServer>> RolloutServer::bind(RolloutServerOptions options) {
  std::string listen = options.listen;
  auto impl = std::make_unique<Impl>(std::move(options));
  R1_RETURN_IF_ERROR(listen_on(impl->acceptor, listen));
  return std::unique_ptr<RolloutServer>(new RolloutServer(std::move(impl)));
}

std::string RolloutServer::address() const {
  error_code ec;
  return endpoint_text(impl_->acceptor.local_endpoint(ec));
}

Status RolloutServer::run(Transformer policy, ServingWorkerFactory make_worker) {
  R1_ASSIGN_OR_RETURN(std::shared_ptr<const ServedPolicy> served,
                      make_served_policy(std::move(policy), impl_->shared.options.policy_version, make_worker));
  impl_->shared.install(std::move(served));
  impl_->shared.make_worker = std::move(make_worker);
  // Only while serving: before, a signal still ends the process at once
  // (while a model loads, say).
  asio::signal_set signals(impl_->io, SIGINT, SIGTERM);
  signals.async_wait([this](const error_code& ec, int) {
    if (!ec) stop();
  });
  impl_->accept();
  impl_->io.run();
  return Status();
}

void RolloutServer::stop() { impl_->io.stop(); }

}  // namespace r1
