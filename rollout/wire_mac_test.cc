// Frames after the handshake: sealed by one side, checked by the other, and
// any change on the way (one flipped bit, a replay, a reflection, a frame
// from another connection) is an error before the header is parsed.
#include "rollout/wire_mac.h"

#include <gtest/gtest.h>

#include "rollout/wire_auth.h"

namespace r1 {
namespace {

const std::string kKey = "0123456789abcdef0123456789abcdef";
constexpr FrameLimits kLimits{.max_header_bytes = 1 << 16, .max_payload_bytes = 1 << 16};

// Both sides of one authenticated connection.
struct Session {
  SessionKeys learner, worker;
};

Session authenticated_pair() {
  LearnerHandshake learner(kKey);
  WorkerHandshake worker(kKey);
  auto next = [](const std::string& bytes, bool preamble) {
    FrameParser p(kHandshakeFrameLimits, preamble ? FrameParser::Start::kPreamble : FrameParser::Start::kFrame);
    EXPECT_TRUE(p.feed(bytes).ok());
    return p.take();
  };
  Result<std::string> challenge = worker.on_hello(next(*learner.hello(), true));
  Result<std::string> proof = learner.on_challenge(next(*challenge, true));
  Result<std::string> welcome = worker.on_proof(next(*proof, false));
  EXPECT_TRUE(learner.on_welcome(next(*welcome, false)).ok());
  return {learner.session(), worker.session()};
}

// Feeds `bytes` to a parser that expects frames sealed with `key`; returns
// the types of the frames read, or the error.
Result<std::vector<std::string>> read_sealed(const std::string& key, const std::string& bytes) {
  FrameParser parser(kLimits, FrameParser::Start::kFrame);
  parser.expect_mac(key);
  std::vector<std::string> types;
  std::string_view rest = bytes;
  while (!rest.empty()) {
    R1_ASSIGN_OR_RETURN(size_t used, parser.feed(rest));
    rest.remove_prefix(used);
    if (parser.has_frame()) types.push_back(parser.take().type);
  }
  R1_RETURN_IF_ERROR(parser.at_end());
  return types;
}

TEST(WireMac, BothSidesDeriveTheSameKeysOnePerDirection) {
  Session s = authenticated_pair();
  EXPECT_EQ(s.learner.learner_to_worker, s.worker.learner_to_worker);
  EXPECT_EQ(s.learner.worker_to_learner, s.worker.worker_to_learner);
  EXPECT_NE(s.learner.learner_to_worker, s.learner.worker_to_learner);
  EXPECT_EQ(s.learner.learner_to_worker.size(), 32u);
  // Fresh nonces: another connection with the same key has other keys.
  EXPECT_NE(authenticated_pair().learner.learner_to_worker, s.learner.learner_to_worker);
}

TEST(WireMac, SealedFramesWithPayloadAreRead) {
  Session s = authenticated_pair();
  FrameSealer sealer(s.learner.learner_to_worker);
  std::string bytes = *sealer.seal(R"({"type":"a"})");  // two statements: numbered in this order
  bytes += *sealer.seal(R"({"type":"b"})", std::string(1000, 'p'));
  Result<std::vector<std::string>> types = read_sealed(s.worker.learner_to_worker, bytes);
  ASSERT_TRUE(types.ok()) << types.status().message();
  EXPECT_EQ(*types, (std::vector<std::string>{"a", "b"}));
}

TEST(WireMac, EveryFlippedBitOfHeaderPayloadOrMacIsRefused) {
  Session s = authenticated_pair();
  std::string bytes = *FrameSealer(s.learner.learner_to_worker).seal(R"({"type":"a","n":1})", "payload");
  // The length prefix is left out: a changed length is a different frame
  // (over the limit, or a truncated one), refused either way below.
  for (size_t i = kFramePrefixBytes; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string tampered = bytes;
      tampered[i] = static_cast<char>(tampered[i] ^ (1 << bit));
      Result<std::vector<std::string>> types = read_sealed(s.worker.learner_to_worker, tampered);
      ASSERT_FALSE(types.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(types.status().message(),
                "frame 0 after the handshake failed its integrity check (its MAC does not match): it was altered on "
                "the way or not sent by the authenticated peer");
    }
  }
  std::string longer = bytes;
  longer[7] = static_cast<char>(longer[7] + 1);  // payload length 8: the MAC is read one byte late
  EXPECT_FALSE(read_sealed(s.worker.learner_to_worker, longer).ok());
}

TEST(WireMac, ReplayedReorderedReflectedOrForeignFramesAreRefused) {
  Session s = authenticated_pair();
  FrameSealer sealer(s.learner.learner_to_worker);
  std::string first = *sealer.seal(R"({"type":"a"})");
  std::string second = *sealer.seal(R"({"type":"b"})");
  const std::string& key = s.worker.learner_to_worker;
  EXPECT_TRUE(read_sealed(key, first + second).ok());
  EXPECT_FALSE(read_sealed(key, first + first).ok());   // replayed
  EXPECT_FALSE(read_sealed(key, second + first).ok());  // reordered
  EXPECT_FALSE(read_sealed(key, second).ok());          // one dropped
  // The worker's own frame sent back to it, and a frame of another connection.
  EXPECT_FALSE(read_sealed(key, *FrameSealer(s.worker.worker_to_learner).seal(R"({"type":"a"})")).ok());
  EXPECT_FALSE(
      read_sealed(key, *FrameSealer(authenticated_pair().learner.learner_to_worker).seal(R"({"type":"a"})")).ok());
  // A plain frame where a sealed one is expected ends inside its MAC.
  EXPECT_EQ(read_sealed(key, *encode_frame(R"({"type":"a"})")).status().message(),
            "stream ended inside a frame's MAC (0 of 32 bytes)");
}

}  // namespace
}  // namespace r1
