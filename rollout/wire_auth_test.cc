#include "rollout/wire_auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace r1 {
namespace {

const std::string kKey = "0123456789abcdef0123456789abcdef";

// The one frame in `bytes` (after a preamble when `preamble`).
Frame only_frame(const std::string& bytes, bool preamble) {
  FrameParser parser(kHandshakeFrameLimits, preamble ? FrameParser::Start::kPreamble : FrameParser::Start::kFrame);
  Result<size_t> used = parser.feed(bytes);
  EXPECT_TRUE(used.ok()) << used.status().message();
  EXPECT_TRUE(parser.has_frame());
  EXPECT_EQ(*used, bytes.size());
  return parser.take();
}

Frame frame_of(const std::string& header) { return only_frame(*encode_frame(header), false); }

class KeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("r1_wire_auth_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(KeyFile, OwnerOnlyFileIsReadWithoutTrailingNewline) {
  Result<std::string> key = read_auth_key_file(write("key", kKey + "\n", 0600));
  ASSERT_TRUE(key.ok()) << key.status().message();
  EXPECT_EQ(*key, kKey);
  EXPECT_TRUE(read_auth_key_file(write("ro", kKey, 0400)).ok());
}

TEST_F(KeyFile, ReadableByOthersIsRefusedNamingFileAndMode) {
  std::string path = write("key", kKey, 0644);
  Result<std::string> key = read_auth_key_file(path);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().message(), path +
                                        ": the auth key file has mode 0644; it must be readable by its owner only "
                                        "(chmod 600 " +
                                        path + ")");
  EXPECT_FALSE(read_auth_key_file(write("group", kKey, 0640)).ok());
  EXPECT_FALSE(read_auth_key_file(write("gw", kKey, 0620)).ok());
}

TEST_F(KeyFile, MissingShortOrNonRegularFilesAreRefused) {
  std::string missing = (dir_ / "nope").string();
  EXPECT_EQ(read_auth_key_file(missing).status().message(),
            missing + ": cannot open the auth key file: No such file or directory");
  std::string shorty = write("short", "tooshort\n", 0600);
  EXPECT_EQ(read_auth_key_file(shorty).status().message(),
            shorty + ": the auth key has 8 bytes; it needs at least 16 (e.g. from `openssl rand -hex 32`)");
  std::filesystem::create_directory(dir_ / "d");
  ::chmod((dir_ / "d").c_str(), 0700);
  EXPECT_EQ(read_auth_key_file((dir_ / "d").string()).status().message(),
            (dir_ / "d").string() + ": the auth key file must be a regular file");
}

struct Exchange {
  std::string proof_bytes;  // what the learner sent as its proof
  Status worker_status;     // the worker's verdict on it
  Status learner_status;    // the learner's verdict on the welcome
};

Exchange handshake(const std::string& learner_key, const std::string& worker_key) {
  LearnerHandshake learner(learner_key);
  WorkerHandshake worker(worker_key);
  Exchange e;
  Result<std::string> challenge = worker.on_hello(only_frame(*learner.hello(), true));
  EXPECT_TRUE(challenge.ok()) << challenge.status().message();
  Result<std::string> proof = learner.on_challenge(only_frame(*challenge, true));
  EXPECT_TRUE(proof.ok()) << proof.status().message();
  e.proof_bytes = *proof;
  Result<std::string> welcome = worker.on_proof(only_frame(*proof, false));
  e.worker_status = welcome.status();
  if (welcome.ok()) e.learner_status = learner.on_welcome(only_frame(*welcome, false));
  return e;
}

TEST(WireAuth, SameKeyAuthenticatesBothSides) {
  Exchange e = handshake(kKey, kKey);
  EXPECT_TRUE(e.worker_status.ok()) << e.worker_status.message();
  EXPECT_TRUE(e.learner_status.ok()) << e.learner_status.message();
}

TEST(WireAuth, WrongKeyIsRefusedByTheWorker) {
  Exchange e = handshake("another key of 32 bytes, not it!", kKey);
  EXPECT_EQ(e.worker_status.message(), "authentication failed: the learner's proof does not match this worker's key");
}

TEST(WireAuth, RecordedProofFailsOnANewConnection) {
  Exchange first = handshake(kKey, kKey);
  WorkerHandshake worker(kKey);
  LearnerHandshake learner(kKey);
  ASSERT_TRUE(worker.on_hello(only_frame(*learner.hello(), true)).ok());
  // The worker drew a fresh nonce, so the old proof does not verify.
  EXPECT_FALSE(worker.on_proof(only_frame(first.proof_bytes, false)).ok());
}

TEST(WireAuth, WorkerWithoutTheKeyIsRefusedByTheLearner) {
  LearnerHandshake learner(kKey);
  WorkerHandshake impostor("the impostor's key, 32 bytes ok!");
  Result<std::string> challenge = impostor.on_hello(only_frame(*learner.hello(), true));
  ASSERT_TRUE(challenge.ok());
  ASSERT_TRUE(learner.on_challenge(only_frame(*challenge, true)).ok());
  // Without the key the impostor can only guess the welcome's proof.
  std::string forged = R"({"type":"welcome","proof":")" + std::string(64, 'a') + "\"}";
  EXPECT_EQ(learner.on_welcome(frame_of(forged)).message(),
            "authentication failed: the worker's proof does not match this learner's key");
}

TEST(WireAuth, ReflectedProofIsNotAWelcome) {
  LearnerHandshake learner(kKey);
  WorkerHandshake worker(kKey);
  Result<std::string> challenge = worker.on_hello(only_frame(*learner.hello(), true));
  ASSERT_TRUE(challenge.ok());
  // An impostor hands the learner's own proof back as the welcome.
  Result<std::string> proof = learner.on_challenge(only_frame(*challenge, true));
  ASSERT_TRUE(proof.ok());
  Frame reflected = only_frame(*proof, false);
  std::string hex = reflected.header["proof"].GetString();
  EXPECT_FALSE(learner.on_welcome(frame_of(R"({"type":"welcome","proof":")" + hex + "\"}")).ok());
}

TEST(WireAuth, MalformedHandshakeFramesNameTheField) {
  WorkerHandshake worker(kKey);
  EXPECT_EQ(worker.on_hello(frame_of(R"({"type":"hello","nonce":"abc"})")).status().message(),
            "'hello' frame: field 'nonce' must be hex digits in pairs");
  EXPECT_EQ(worker.on_hello(frame_of(R"({"type":"hello","nonce":"zz"})")).status().message(),
            "'hello' frame: field 'nonce' must be hex digits");
  EXPECT_EQ(worker.on_hello(frame_of(R"({"type":"hello","nonce":"00ff"})")).status().message(),
            "'hello' frame: field 'nonce' must be 32 bytes of hex");
  EXPECT_EQ(worker.on_hello(frame_of(R"({"type":"rollout_request"})")).status().message(),
            "expected a 'hello' frame, got 'rollout_request'");
  EXPECT_EQ(WorkerHandshake(kKey).on_proof(frame_of(R"({"type":"proof","proof":"00"})")).status().message(),
            "a 'proof' frame before the hello");
  LearnerHandshake learner(kKey);
  ASSERT_TRUE(learner.hello().ok());
  EXPECT_EQ(
      learner.on_challenge(only_frame(*encode_frame(error_header("too many connections")), false)).status().message(),
      "the peer refused: too many connections");
}

}  // namespace
}  // namespace r1
