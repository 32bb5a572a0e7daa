#include "rollout/wire_auth.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "rollout/wire_mac.h"
#include "util/json.h"

namespace r1 {

namespace {

constexpr size_t kNonceBytes = 32;
constexpr size_t kMinKeyBytes = 16;
constexpr const char* kLearnerLabel = "r1 learner";
constexpr const char* kWorkerLabel = "r1 worker";

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Result<std::string> random_nonce() {
  std::string nonce(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes) != 1)
    return Status::error("the system's random generator failed (OpenSSL RAND_bytes)");
  return nonce;
}

// HMAC-SHA256(key, label || learner nonce || worker nonce): fixed-length
// nonces after a label that is not a prefix of the other, so no two inputs
// run together.
std::string proof_of(const std::string& key, const char* label, const std::string& learner_nonce,
                     const std::string& worker_nonce) {
  return hmac_sha256(key, std::string(label) + '\0' + learner_nonce + worker_nonce);
}

// The raw bytes of a hex field of `frame` that must decode to `bytes` bytes.
Result<std::string> hex_field(const Frame& frame, const char* key, size_t bytes) {
  std::string where = "'" + frame.type + "' frame";
  R1_ASSIGN_OR_RETURN(std::string hex, json_string(frame.header, key, where));
  std::string what = where + ": field '" + key + "'";
  return hex_decode(hex, what, bytes);
}

std::string nonce_frame(const char* type, const std::string& nonce) {
  JsonWriter w;
  w.begin_object().key("type").value(type).key("nonce").value(hex_encode(nonce)).end_object();
  return *encode_frame(w.str());
}

std::string proof_frame(const char* type, const std::string& proof) {
  JsonWriter w;
  w.begin_object().key("type").value(type).key("proof").value(hex_encode(proof)).end_object();
  return *encode_frame(w.str());
}

}  // namespace

Result<std::string> read_auth_key_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error(path + ": cannot open the auth key file: " + std::strerror(errno));
  struct stat st {};
  // The checks and the read use the same open file, so it cannot be swapped
  // in between.
  Status status;
  std::string key;
  if (::fstat(fd, &st) != 0) {
    status = Status::error(path + ": cannot stat the auth key file: " + std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    status = Status::error(path + ": the auth key file must be a regular file");
  } else if ((st.st_mode & 077) != 0) {
    status = Status::error(path + ": the auth key file has mode " + octal_mode(st.st_mode) +
                           "; it must be readable by its owner only (chmod 600 " + path + ")");
  } else {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) key.append(buf, static_cast<size_t>(n));
    if (n < 0) status = Status::error(path + ": cannot read the auth key file: " + std::strerror(errno));
  }
  ::close(fd);
  R1_RETURN_IF_ERROR(status);
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  if (key.size() < kMinKeyBytes)
    return Status::error(path + ": the auth key has " + std::to_string(key.size()) + " bytes; it needs at least " +
                         std::to_string(kMinKeyBytes) + " (e.g. from `openssl rand -hex 32`)");
  return key;
}

Result<std::string> WorkerHandshake::on_hello(const Frame& hello) {
  R1_RETURN_IF_ERROR(expect_frame_type(hello, "hello"));
  R1_ASSIGN_OR_RETURN(learner_nonce_, hex_field(hello, "nonce", kNonceBytes));
  R1_ASSIGN_OR_RETURN(worker_nonce_, random_nonce());
  return wire_preamble() + nonce_frame("challenge", worker_nonce_);
}

Result<std::string> WorkerHandshake::on_proof(const Frame& proof) {
  if (worker_nonce_.empty()) return Status::error("a 'proof' frame before the hello");
  R1_RETURN_IF_ERROR(expect_frame_type(proof, "proof"));
  R1_ASSIGN_OR_RETURN(std::string given, hex_field(proof, "proof", 32));
  if (!same_mac(given, proof_of(key_, kLearnerLabel, learner_nonce_, worker_nonce_)))
    return Status::error("authentication failed: the learner's proof does not match this worker's key");
  session_ = derive_session_keys(key_, learner_nonce_, worker_nonce_);
  return proof_frame("welcome", proof_of(key_, kWorkerLabel, learner_nonce_, worker_nonce_));
}

Result<std::string> LearnerHandshake::hello() {
  R1_ASSIGN_OR_RETURN(learner_nonce_, random_nonce());
  return wire_preamble() + nonce_frame("hello", learner_nonce_);
}

Result<std::string> LearnerHandshake::on_challenge(const Frame& challenge) {
  if (learner_nonce_.empty()) return Status::error("a 'challenge' frame before the hello");
  R1_RETURN_IF_ERROR(expect_frame_type(challenge, "challenge"));
  R1_ASSIGN_OR_RETURN(worker_nonce_, hex_field(challenge, "nonce", kNonceBytes));
  return proof_frame("proof", proof_of(key_, kLearnerLabel, learner_nonce_, worker_nonce_));
}

Status LearnerHandshake::on_welcome(const Frame& welcome) {
  if (worker_nonce_.empty()) return Status::error("a 'welcome' frame before the challenge");
  R1_RETURN_IF_ERROR(expect_frame_type(welcome, "welcome"));
  R1_ASSIGN_OR_RETURN(std::string given, hex_field(welcome, "proof", 32));
  if (!same_mac(given, proof_of(key_, kWorkerLabel, learner_nonce_, worker_nonce_)))
    return Status::error("authentication failed: the worker's proof does not match this learner's key");
  session_ = derive_session_keys(key_, learner_nonce_, worker_nonce_);
  return Status();
}

}  // namespace r1
