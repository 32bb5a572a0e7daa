#include "rollout/wire_frame.h"

#include <algorithm>
#include <limits>

#include "rollout/wire_mac.h"
#include "util/json.h"

namespace r1 {

namespace {

constexpr char kMagic[4] = {'R', '1', 'R', 'W'};

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Moves up to `want - into.size()` bytes from `bytes` into `into`; returns
// how many it moved.
size_t fill(std::string& into, size_t want, std::string_view bytes) {
  size_t n = std::min(want - into.size(), bytes.size());
  into.append(bytes.data(), n);
  return n;
}

}  // namespace

std::string hex_encode(std::string_view bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

Result<std::string> hex_decode(std::string_view hex, const std::string& what, size_t bytes) {
  if (hex.size() % 2 != 0) return Status::error(what + " must be hex digits in pairs");
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return Status::error(what + " must be hex digits");
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  // The length of the input, not of `out`: GCC 12 warns (-Warray-bounds, a
  // false positive) on moving a string whose exact size it has seen checked.
  if (hex.size() != 2 * bytes) return Status::error(what + " must be " + std::to_string(bytes) + " bytes of hex");
  return out;
}

std::string error_header(const std::string& message) {
  // Short enough for a peer that has not authenticated yet (its limit is a
  // few KiB); cut at a UTF-8 character boundary.
  constexpr size_t kMaxMessage = 2000;
  size_t n = std::min(message.size(), kMaxMessage);
  while (n < message.size() && n > 0 && (static_cast<unsigned char>(message[n]) & 0xc0) == 0x80) --n;
  JsonWriter w;
  w.begin_object().key("type").value("error").key("message").value(message.substr(0, n)).end_object();
  return w.str();
}

Status expect_frame_type(const Frame& frame, const std::string& type) {
  if (frame.type == type) return Status();
  if (frame.type == "error") {
    auto it = frame.header.FindMember("message");
    return Status::error("the peer refused: " + std::string(it != frame.header.MemberEnd() && it->value.IsString()
                                                                ? it->value.GetString()
                                                                : "(no message)"));
  }
  return Status::error("expected a '" + type + "' frame, got '" + frame.type + "'");
}

Result<const rapidjson::Value*> frame_field(const Frame& frame, const char* key) {
  auto it = frame.header.FindMember(key);
  if (it == frame.header.MemberEnd())
    return Status::error("'" + frame.type + "' frame: field '" + key + "' is missing");
  return &it->value;
}

std::string wire_preamble() {
  std::string out(kMagic, sizeof(kMagic));
  put_u32(out, kWireProtocolVersion);
  return out;
}

Result<std::string> encode_frame(const std::string& header_json, std::string_view payload) {
  constexpr size_t kMax = std::numeric_limits<uint32_t>::max();
  if (header_json.size() > kMax || payload.size() > kMax)
    return Status::error("frame of " + std::to_string(header_json.size()) + " header and " +
                         std::to_string(payload.size()) + " payload bytes does not fit the 32-bit length fields");
  std::string out;
  out.reserve(kFramePrefixBytes + header_json.size() + payload.size());
  put_u32(out, static_cast<uint32_t>(header_json.size()));
  put_u32(out, static_cast<uint32_t>(payload.size()));
  out += header_json;
  out += payload;
  return out;
}

FrameParser::FrameParser(FrameLimits limits, Start start)
    : limits_(limits), state_(start == Start::kPreamble ? State::kPreamble : State::kPrefix) {}

Status FrameParser::fail(std::string message) {
  state_ = State::kFailed;
  error_ = Status::error(std::move(message));
  // Nothing of a rejected frame stays allocated.
  std::string().swap(header_);
  std::string().swap(payload_);
  return error_;
}

Status FrameParser::on_fixed_complete() {
  if (state_ == State::kPreamble) {
    if (fixed_.compare(0, 4, kMagic, 4) != 0)
      return fail("not an r1 rollout peer: the stream starts with bytes 0x" + hex_encode(fixed_.substr(0, 4)) +
                  ", expected \"R1RW\"");
    uint32_t version = get_u32(fixed_.data() + 4);
    if (version != kWireProtocolVersion)
      return fail("the peer speaks r1 rollout protocol version " + std::to_string(version) + ", this build speaks " +
                  std::to_string(kWireProtocolVersion));
    fixed_.clear();
    state_ = State::kPrefix;
    return Status();
  }
  header_len_ = get_u32(fixed_.data());
  payload_len_ = get_u32(fixed_.data() + 4);
  fixed_.clear();
  // Checked before a byte of the frame is buffered.
  if (header_len_ == 0) return fail("frame header is empty; expected a JSON object");
  if (header_len_ > limits_.max_header_bytes)
    return fail("frame header of " + std::to_string(header_len_) + " bytes exceeds the limit of " +
                std::to_string(limits_.max_header_bytes) + " bytes");
  if (payload_len_ > limits_.max_payload_bytes)
    return fail("frame payload of " + std::to_string(payload_len_) + " bytes exceeds the limit of " +
                std::to_string(limits_.max_payload_bytes) + " bytes");
  state_ = State::kHeader;
  // An authenticated peer's payload (a weights bucket of hundreds of MiB)
  // gets its buffer at once rather than by doublings, each a copy; before
  // authentication payloads are not allowed at all.
  if (!mac_key_.empty()) payload_.reserve(payload_len_);
  return Status();
}

Status FrameParser::check_mac() {
  std::string prefix;
  put_u32(prefix, header_len_);
  put_u32(prefix, payload_len_);
  uint64_t seq = mac_seq_++;
  if (!same_mac(mac_, frame_mac(mac_key_, seq, prefix, header_, payload_)))
    return fail("frame " + std::to_string(seq) +
                " after the handshake failed its integrity check (its MAC does not match): it was altered on the "
                "way or not sent by the authenticated peer");
  mac_.clear();
  return Status();
}

Status FrameParser::on_frame_complete() {
  if (!mac_key_.empty()) R1_RETURN_IF_ERROR(check_mac());
  Result<rapidjson::Document> doc = parse_json(header_, "frame header");
  if (!doc.ok()) return fail(doc.status().message());
  if (!doc->IsObject()) return fail("frame header must be a JSON object");
  auto type = doc->FindMember("type");
  if (type == doc->MemberEnd() || !type->value.IsString()) return fail("frame header must have a string field 'type'");
  ready_.type = type->value.GetString();
  ready_.header = std::move(*doc);
  ready_.payload = std::move(payload_);
  header_.clear();
  payload_.clear();
  state_ = State::kFrameReady;
  return Status();
}

Result<size_t> FrameParser::feed(std::string_view bytes) {
  if (state_ == State::kFailed) return error_;
  if (state_ == State::kFrameReady) return Status::error("frame parser: the previous frame was not taken");
  size_t used = 0;
  while (used < bytes.size() && state_ != State::kFrameReady) {
    std::string_view rest = bytes.substr(used);
    switch (state_) {
      case State::kPreamble:
      case State::kPrefix:
        used += fill(fixed_, 8, rest);
        if (fixed_.size() == 8) R1_RETURN_IF_ERROR(on_fixed_complete());
        break;
      case State::kHeader:
        used += fill(header_, header_len_, rest);
        if (header_.size() == header_len_) state_ = State::kPayload;
        break;
      case State::kPayload:
        used += fill(payload_, payload_len_, rest);
        break;
      case State::kMac:
        used += fill(mac_, kFrameMacBytes, rest);
        if (mac_.size() == kFrameMacBytes) R1_RETURN_IF_ERROR(on_frame_complete());
        break;
      default:
        break;
    }
    // A frame with an empty payload is complete as soon as its header is
    // (and its MAC, when frames carry one).
    if (state_ == State::kPayload && payload_.size() == payload_len_) {
      if (mac_key_.empty()) {
        R1_RETURN_IF_ERROR(on_frame_complete());
      } else {
        state_ = State::kMac;
      }
    }
  }
  return used;
}

Frame FrameParser::take() {
  state_ = State::kPrefix;
  return std::move(ready_);
}

Status FrameParser::at_end() const {
  switch (state_) {
    case State::kFailed:
      return error_;
    case State::kPreamble:
      return fixed_.empty()
                 ? Status()
                 : Status::error("stream ended inside the preamble (" + std::to_string(fixed_.size()) + " of 8 bytes)");
    case State::kPrefix:
      return fixed_.empty() ? Status()
                            : Status::error("stream ended inside a frame's length prefix (" +
                                            std::to_string(fixed_.size()) + " of 8 bytes)");
    case State::kHeader:
      return Status::error("stream ended inside a frame header (" + std::to_string(header_.size()) + " of " +
                           std::to_string(header_len_) + " bytes)");
    case State::kPayload:
      return Status::error("stream ended inside a frame payload (" + std::to_string(payload_.size()) + " of " +
                           std::to_string(payload_len_) + " bytes)");
    case State::kMac:
      return Status::error("stream ended inside a frame's MAC (" + std::to_string(mac_.size()) + " of " +
                           std::to_string(kFrameMacBytes) + " bytes)");
    case State::kFrameReady:
      return Status();
  }
  return Status();
}

}  // namespace r1
