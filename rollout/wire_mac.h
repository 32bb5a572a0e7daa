// Integrity of a connection after its handshake (docs/distributed.md,
// "Security model"). The handshake authenticates the peers; from then on
// every frame carries a MAC, so nobody on the path can alter, drop, reorder
// or inject frames of an authenticated connection.
//
// Each direction has its own key, derived from the shared key and both
// handshake nonces (HMAC-SHA256 as a KDF, one label per direction), so a
// frame cannot be reflected back to its sender nor replayed on another
// connection. A frame's MAC is HMAC-SHA256(direction key, sequence number
// (uint64, big-endian; 0 for the first frame after the handshake) || the
// 8-byte length prefix || header || payload), sent as 32 raw bytes right
// after the payload (not counted in the lengths).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace r1 {

inline constexpr size_t kFrameMacBytes = 32;

std::string hmac_sha256(std::string_view key, std::string_view data);
// Constant-time equality of two MACs or proofs.
bool same_mac(std::string_view a, std::string_view b);

struct SessionKeys {
  std::string learner_to_worker;
  std::string worker_to_learner;
};
SessionKeys derive_session_keys(const std::string& key, const std::string& learner_nonce,
                                const std::string& worker_nonce);

// The MAC of frame number `seq` with these lengths and bytes.
std::string frame_mac(std::string_view key, uint64_t seq, std::string_view prefix, std::string_view header,
                      std::string_view payload);

// The sending side of a direction: frames with their MAC, numbered.
class FrameSealer {
 public:
  FrameSealer() = default;  // inactive: frames go out plain (the handshake)
  explicit FrameSealer(std::string key) : key_(std::move(key)) {}
  bool active() const { return !key_.empty(); }
  // The frame's bytes (wire_frame.h encode_frame), then its MAC when active.
  Result<std::string> seal(const std::string& header_json, std::string_view payload = {});

 private:
  std::string key_;
  uint64_t seq_ = 0;
};

}  // namespace r1
