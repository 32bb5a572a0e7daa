#include "rollout/wire_frame.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "util/json.h"

namespace r1 {
namespace {

constexpr FrameLimits kLimits{.max_header_bytes = 4096, .max_payload_bytes = 1 << 16};

struct Parsed {
  std::vector<std::pair<std::string, std::string>> frames;  // (header text, payload)
  Status status;                                            // first error, or at_end()
  size_t max_capacity = 0;
};

// Feeds `bytes` in chunks of random sizes in [1, max_chunk], taking frames
// as they complete. Every feed must consume bytes or complete a frame, so
// the loop cannot spin.
Parsed parse_in_chunks(const std::string& bytes, std::mt19937& rng, size_t max_chunk, FrameLimits limits = kLimits) {
  FrameParser parser(limits);
  Parsed out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t n = std::uniform_int_distribution<size_t>(1, max_chunk)(rng);
    std::string_view chunk = std::string_view(bytes).substr(pos, n);
    while (!chunk.empty()) {
      Result<size_t> used = parser.feed(chunk);
      out.max_capacity = std::max(out.max_capacity, parser.buffered_capacity());
      if (!used.ok()) {
        out.status = used.status();
        return out;
      }
      EXPECT_TRUE(*used > 0 || parser.has_frame());
      chunk.remove_prefix(*used);
      pos += *used;
      if (parser.has_frame()) {
        Frame f = parser.take();
        out.frames.emplace_back(json_to_string(f.header), f.payload);
      }
    }
  }
  out.status = parser.at_end();
  return out;
}

std::string frame(const std::string& header, std::string_view payload = {}) {
  Result<std::string> bytes = encode_frame(header, payload);
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  return *bytes;
}

std::string prefix(uint32_t header_len, uint32_t payload_len) {
  std::string out;
  for (uint32_t v : {header_len, payload_len})
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
  return out;
}

const std::string kBinary("\0\x01\xff\x7f tensor bytes\0", 18);
const std::vector<std::pair<std::string, std::string>> kFrames{{R"({"type":"hello","nonce":"00ff"})", ""},
                                                               {R"({"type":"weights","name":"w"})", kBinary},
                                                               {R"({"type":"bye"})", ""}};

std::string valid_stream() {
  std::string out = wire_preamble();
  for (const auto& [header, payload] : kFrames) out += frame(header, payload);
  return out;
}

TEST(WireFrame, FramesSurviveAnyChunking) {
  std::string bytes = valid_stream();
  for (uint32_t seed = 0; seed < 200; ++seed) {
    std::mt19937 rng(seed);
    Parsed p = parse_in_chunks(bytes, rng, 1 + seed % 40);
    ASSERT_TRUE(p.status.ok()) << p.status.message();
    EXPECT_EQ(p.frames, kFrames);
  }
}

TEST(WireFrame, OversizedLengthsAreRejectedBeforeAnythingIsBuffered) {
  std::mt19937 rng(1);
  Parsed header = parse_in_chunks(wire_preamble() + prefix(0xffffffffu, 0) + "{\"ty", rng, 3);
  EXPECT_EQ(header.status.message(), "frame header of 4294967295 bytes exceeds the limit of 4096 bytes");
  EXPECT_LT(header.max_capacity, 64u);
  Parsed payload = parse_in_chunks(wire_preamble() + prefix(14, 70000) + R"({"type":"x"}  )", rng, 5);
  EXPECT_EQ(payload.status.message(), "frame payload of 70000 bytes exceeds the limit of 65536 bytes");
}

TEST(WireFrame, AnnouncedLengthsAllocateOnlyWhatArrives) {
  // Within the limits, but the peer stops sending: the buffers hold what came.
  std::mt19937 rng(2);
  FrameLimits big{.max_header_bytes = 1u << 30, .max_payload_bytes = 1u << 30};
  Parsed p = parse_in_chunks(wire_preamble() + prefix(1u << 30, 0) + std::string(100, ' '), rng, 7, big);
  EXPECT_EQ(p.status.message(), "stream ended inside a frame header (100 of 1073741824 bytes)");
  EXPECT_LT(p.max_capacity, 1024u);
}

TEST(WireFrame, PreambleNamesWhatWasExpected) {
  std::mt19937 rng(3);
  EXPECT_EQ(parse_in_chunks("GET / HTTP/1.1\r\n\r\n", rng, 4).status.message(),
            "not an r1 rollout peer: the stream starts with bytes 0x47455420, expected \"R1RW\"");
  std::string v1 = wire_preamble();
  v1[7] = 1;  // before heartbeats
  EXPECT_EQ(parse_in_chunks(v1, rng, 4).status.message(),
            "the peer speaks r1 rollout protocol version 1, this build speaks 2");
}

TEST(WireFrame, TruncationIsAnErrorExceptBetweenFrames) {
  std::string bytes = valid_stream();
  std::vector<size_t> boundaries{0, kWirePreambleBytes};
  for (const auto& [header, payload] : kFrames)
    boundaries.push_back(boundaries.back() + kFramePrefixBytes + header.size() + payload.size());
  ASSERT_EQ(boundaries.back(), bytes.size());
  std::mt19937 rng(4);
  for (size_t cut = 0; cut <= bytes.size(); ++cut) {
    Parsed p = parse_in_chunks(bytes.substr(0, cut), rng, 9);
    bool boundary = std::find(boundaries.begin(), boundaries.end(), cut) != boundaries.end();
    EXPECT_EQ(p.status.ok(), boundary) << "cut at " << cut << ": " << p.status.message();
  }
  EXPECT_EQ(parse_in_chunks(bytes.substr(0, 11), rng, 9).status.message(),
            "stream ended inside a frame's length prefix (3 of 8 bytes)");
  EXPECT_EQ(parse_in_chunks(bytes.substr(0, 20), rng, 9).status.message(),
            "stream ended inside a frame header (4 of 31 bytes)");
}

TEST(WireFrame, HeaderMustBeAnObjectWithAType) {
  std::mt19937 rng(5);
  auto error_of = [&](const std::string& header) {
    return parse_in_chunks(wire_preamble() + frame(header), rng, 6).status.message();
  };
  EXPECT_EQ(error_of("[1,2]"), "frame header must be a JSON object");
  EXPECT_EQ(error_of(R"({"kind":"x"})"), "frame header must have a string field 'type'");
  EXPECT_EQ(error_of(R"({"type":7})"), "frame header must have a string field 'type'");
  EXPECT_NE(error_of("{\"type\":").find("frame header:1:"), std::string::npos);
  EXPECT_EQ(parse_in_chunks(wire_preamble() + prefix(0, 0), rng, 6).status.message(),
            "frame header is empty; expected a JSON object");
}

TEST(WireFrame, FieldsAndErrorFramesNameTheFrame) {
  FrameParser parser(kLimits, FrameParser::Start::kFrame);
  ASSERT_TRUE(parser.feed(frame(R"({"type":"rollout_request","request":{"step":1}})")).ok());
  Frame f = parser.take();
  Result<const rapidjson::Value*> request = frame_field(f, "request");
  ASSERT_TRUE(request.ok());
  EXPECT_TRUE((*request)->IsObject());
  EXPECT_EQ(frame_field(f, "result").status().message(), "'rollout_request' frame: field 'result' is missing");
  EXPECT_EQ(expect_frame_type(f, "rollout_result").message(),
            "expected a 'rollout_result' frame, got 'rollout_request'");
  ASSERT_TRUE(parser.feed(*encode_frame(error_header(std::string(5000, 'x')))).ok());
  Frame error = parser.take();  // cut to fit a peer that has not authenticated
  EXPECT_EQ(expect_frame_type(error, "rollout_result").message(), "the peer refused: " + std::string(2000, 'x'));
}

TEST(WireFrame, ErrorsAreStickyAndLimitsApplyFromTheNextFrame) {
  FrameParser parser(FrameLimits{.max_header_bytes = 64, .max_payload_bytes = 0});
  std::string first = wire_preamble() + frame(R"({"type":"a"})");
  std::string second = frame(R"({"type":"b"})", "payload");
  std::string both = first + second;
  Result<size_t> used = parser.feed(both);
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(*used, first.size());  // stops at the end of a frame
  EXPECT_EQ(parser.take().type, "a");
  parser.set_limits({.max_header_bytes = 64, .max_payload_bytes = 16});
  used = parser.feed(second);
  ASSERT_TRUE(used.ok()) << used.status().message();
  Frame b = parser.take();
  EXPECT_EQ(b.type, "b");
  EXPECT_EQ(b.payload, "payload");
  ASSERT_FALSE(parser.feed(prefix(65, 0)).ok());
  Result<size_t> again = parser.feed(first);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().message(), "frame header of 65 bytes exceeds the limit of 64 bytes");
}

// Random and adversarial streams: every one ends in frames or an error, never
// a crash, a spin, or a buffer larger than what was fed. A fixed number of
// cases keeps it bounded in time (well under a second).
TEST(WireFrame, FuzzedStreamsFailCleanly) {
  std::mt19937 rng(20240613);
  const std::string valid = valid_stream();
  std::uniform_int_distribution<int> byte(0, 255);
  size_t errors = 0, clean = 0;
  for (int i = 0; i < 40000; ++i) {
    std::string bytes;
    switch (i % 5) {
      case 0:  // garbage
        bytes.resize(std::uniform_int_distribution<size_t>(0, 300)(rng));
        for (char& c : bytes) c = static_cast<char>(byte(rng));
        break;
      case 1:  // a valid preamble, then garbage
        bytes = wire_preamble() + std::string(std::uniform_int_distribution<size_t>(0, 64)(rng), '\0');
        for (size_t k = kWirePreambleBytes; k < bytes.size(); ++k) bytes[k] = static_cast<char>(byte(rng));
        break;
      case 2: {  // valid stream with flipped bytes
        bytes = valid;
        int flips = std::uniform_int_distribution<int>(1, 6)(rng);
        for (int f = 0; f < flips; ++f)
          bytes[std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng)] = static_cast<char>(byte(rng));
        break;
      }
      case 3: {  // valid stream with an adversarial length spliced in
        bytes = valid;
        const uint32_t lengths[] = {0, 1, 4095, 4096, 4097, 65536, 65537, 0x7fffffffu, 0xffffffffu};
        uint32_t len = lengths[std::uniform_int_distribution<size_t>(0, 8)(rng)];
        size_t at = std::uniform_int_distribution<size_t>(0, bytes.size() - 4)(rng);
        std::string p = prefix(len, len).substr(0, 4);
        bytes.replace(at, 4, p);
        break;
      }
      default:  // truncated or extended
        bytes = valid.substr(0, std::uniform_int_distribution<size_t>(0, valid.size())(rng)) +
                std::string(std::uniform_int_distribution<size_t>(0, 8)(rng), '\x7f');
        break;
    }
    Parsed p = parse_in_chunks(bytes, rng, 1 + i % 50);
    (p.status.ok() ? clean : errors) += 1;
    if (!p.status.ok()) {
      EXPECT_FALSE(p.status.message().empty());
    }
    // Buffers hold at most what was fed plus the string implementation's slack.
    EXPECT_LE(p.max_capacity, 2 * bytes.size() + 64) << "case " << i;
  }
  EXPECT_GT(errors, 20000u);
  EXPECT_GT(clean, 0u);  // some mutations leave a valid stream; the test reaches both ends
}

}  // namespace
}  // namespace r1
