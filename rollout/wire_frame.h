// The framed byte protocol between a learner and its rollout workers
// (docs/distributed.md). Each side opens with an 8-byte preamble (magic
// "R1RW" and the protocol version, big-endian), then sends frames: a 4-byte
// header length and a 4-byte payload length (big-endian), a JSON object
// header with a string "type", and raw payload bytes (tensors, later).
//
// The reader checks each length against its current limits before it
// buffers a byte of the frame, and buffers grow only as bytes arrive: a
// peer that announces 4 GiB and sends ten bytes costs ten bytes. The parser
// is incremental (bytes may come in any chunks) and knows nothing of
// sockets, so it can be fuzzed.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace r1 {

inline constexpr uint32_t kWireProtocolVersion = 2;  // 2: heartbeat frames during a request
inline constexpr size_t kWirePreambleBytes = 8;
inline constexpr size_t kFramePrefixBytes = 8;

// The largest header and payload a reader accepts; set per phase (a peer
// that has not authenticated gets a few KiB).
struct FrameLimits {
  uint32_t max_header_bytes = 0;
  uint32_t max_payload_bytes = 0;
};

struct Frame {
  std::string type;  // header["type"]
  rapidjson::Document header;
  std::string payload;
};

// What each side sends first.
std::string wire_preamble();
// One frame's bytes. `header_json` must be a JSON object with a string
// "type"; the lengths must fit the 32-bit fields.
Result<std::string> encode_frame(const std::string& header_json, std::string_view payload = {});

// {"type":"error","message":...}: what a side sends before it drops a peer
// or when it refuses a request: its header, to be encoded plain during the
// handshake and sealed after it (rollout/wire_mac.h).
std::string error_header(const std::string& message);
// Ok when `frame` has type `type`; the peer's message when it is an error
// frame; else an error naming both types.
Status expect_frame_type(const Frame& frame, const std::string& type);

// A field of the frame's header; the error names the frame's type and key.
Result<const rapidjson::Value*> frame_field(const Frame& frame, const char* key);

std::string hex_encode(std::string_view bytes);
// Decodes lower- or upper-case hex that must come to `bytes` bytes; errors name `what`.
Result<std::string> hex_decode(std::string_view hex, const std::string& what, size_t bytes);

class FrameParser {
 public:
  enum class Start { kPreamble, kFrame };
  explicit FrameParser(FrameLimits limits, Start start = Start::kPreamble);

  // Limits for frames whose length prefix has not been read yet.
  void set_limits(FrameLimits limits) { limits_ = limits; }
  // From the next frame on, each frame must be followed by its MAC under
  // `key` (rollout/wire_mac.h), numbered from 0; a frame whose MAC does not
  // match is an error, found before its header is parsed.
  void expect_mac(std::string key) { mac_key_ = std::move(key); }
  // Consumes bytes up to the end of the next frame and returns how many it
  // used; the caller takes the frame before feeding the rest, so limits can
  // change between frames. After an error every call returns that error.
  Result<size_t> feed(std::string_view bytes);
  bool has_frame() const { return state_ == State::kFrameReady; }
  Frame take();
  // The stream ended here: ok between frames, else an error saying how far
  // the preamble or frame had got.
  Status at_end() const;
  // Bytes held in buffers (capacity): what a peer's announced lengths made
  // the parser allocate.
  size_t buffered_capacity() const { return fixed_.capacity() + header_.capacity() + payload_.capacity(); }

 private:
  enum class State { kPreamble, kPrefix, kHeader, kPayload, kMac, kFrameReady, kFailed };
  Status fail(std::string message);
  Status on_fixed_complete();
  Status on_frame_complete();
  Status check_mac();

  FrameLimits limits_;
  State state_;
  std::string fixed_;  // preamble or length prefix, as it arrives
  uint32_t header_len_ = 0;
  uint32_t payload_len_ = 0;
  std::string header_;
  std::string payload_;
  std::string mac_key_;  // empty: frames carry no MAC (the handshake)
  uint64_t mac_seq_ = 0;
  std::string mac_;  // as it arrives
  Frame ready_;
  Status error_;
};

}  // namespace r1
