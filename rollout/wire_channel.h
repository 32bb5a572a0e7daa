// The learner's end of one authenticated connection to a rollout worker
// (`r1 rollout serve`), driven step by step: each step runs on a private
// io_context until it completes or its deadline passes, when the socket is
// closed and the step fails with the caller's words for being late. Used by
// RemoteRolloutWorker for requests and for weight pushes.
#pragma once

#include <boost/asio.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "rollout/wire_auth.h"
#include "rollout/wire_endpoint.h"
#include "rollout/wire_frame.h"
#include "rollout/wire_mac.h"
#include "util/status.h"

namespace r1 {

using WireClock = std::chrono::steady_clock;

// When a wait of `seconds` that starts now ends.
WireClock::time_point wire_deadline_after(double seconds);

class WireChannel {
 public:
  // Connects to `address` (HOST:PORT) and runs the learner's side of the
  // handshake with `key`, all within `connect_timeout_s`; from then on every
  // frame is sealed and checked (rollout/wire_mac.h).
  static Result<std::unique_ptr<WireChannel>> open(const std::string& address, const std::string& key,
                                                   double connect_timeout_s);

  // One frame, sealed.
  Status send(const std::string& header_json, std::string_view payload, WireClock::time_point deadline,
              const std::string& late);
  Result<Frame> read_frame(WireClock::time_point deadline, const std::string& late);
  void set_limits(FrameLimits limits) { parser_.set_limits(limits); }

 private:
  WireChannel() = default;
  Status connect(const HostPort& to, WireClock::time_point deadline, const std::string& late);
  Status write(std::string_view bytes, WireClock::time_point deadline, const std::string& late);
  void start_session(const SessionKeys& keys);
  // Runs handlers until `done` or the deadline. On the deadline, `abort`
  // cancels the operation, whose handler then runs (it refers to the
  // caller's locals) before this returns false.
  template <typename Abort>
  bool wait(const bool& done, WireClock::time_point deadline, Abort abort);
  void close();

  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_{io_};
  FrameParser parser_{kHandshakeFrameLimits};
  FrameSealer sealer_;
  std::array<char, 64 * 1024> buffer_;
  std::string pending_;  // bytes read past the end of the last frame
};

}  // namespace r1
