// Mutual authentication of a learner and a rollout worker that share a
// secret key (docs/distributed.md, "Security model"). The key is read from a
// file only its owner can read, never from the command line (where `ps`
// would show it). The handshake, after each side's preamble:
//
//   learner -> worker   hello     {nonce: Nc}            32 random bytes, hex
//   worker  -> learner  challenge {nonce: Ns}
//   learner -> worker   proof     {proof: HMAC-SHA256(key, "r1 learner" Nc Ns)}
//   worker  -> learner  welcome   {proof: HMAC-SHA256(key, "r1 worker"  Nc Ns)}
//
// Each side proves knowledge of the key over the other's fresh nonce, so a
// recorded proof is worthless on another connection; the labels differ, so
// one side's proof is never a valid proof of the other. The worker proves
// itself only to a learner that has proved itself first, and drops a peer
// whose proof is wrong before reading any request from it. Proofs are
// compared in constant time. Both sides then derive the connection's frame
// keys (rollout/wire_mac.h) from the key and both nonces. The classes below are pure message logic, no
// sockets, so they are tested without a network.
#pragma once

#include <string>
#include <utility>

#include "rollout/wire_frame.h"
#include "rollout/wire_mac.h"
#include "util/status.h"

namespace r1 {

// The key file's contents, trailing whitespace removed. An error names the
// file when it cannot be read, is not a regular file, is readable or
// writable by group or others, or holds fewer than 16 bytes.
Result<std::string> read_auth_key_file(const std::string& path);

// Frame limits while a peer has not authenticated: handshake frames only.
inline constexpr FrameLimits kHandshakeFrameLimits{.max_header_bytes = 4096, .max_payload_bytes = 0};

// The worker's side: hello in, challenge out; proof in, welcome out.
class WorkerHandshake {
 public:
  explicit WorkerHandshake(std::string key) : key_(std::move(key)) {}
  // The bytes to send: the worker's preamble and its challenge.
  Result<std::string> on_hello(const Frame& hello);
  // The welcome to send, or an error when the learner's proof is wrong.
  Result<std::string> on_proof(const Frame& proof);
  // The connection's frame keys (rollout/wire_mac.h), once on_proof passed.
  const SessionKeys& session() const { return session_; }

 private:
  std::string key_;
  SessionKeys session_;
  std::string learner_nonce_;
  std::string worker_nonce_;
};

// The learner's side: hello out; challenge in, proof out; welcome in.
class LearnerHandshake {
 public:
  explicit LearnerHandshake(std::string key) : key_(std::move(key)) {}
  // The learner's preamble and hello (with a fresh nonce).
  Result<std::string> hello();
  Result<std::string> on_challenge(const Frame& challenge);
  // Ok when the worker proved it holds the key.
  Status on_welcome(const Frame& welcome);
  // The connection's frame keys (rollout/wire_mac.h), once on_welcome passed.
  const SessionKeys& session() const { return session_; }

 private:
  std::string key_;
  SessionKeys session_;
  std::string learner_nonce_;
  std::string worker_nonce_;
};

}  // namespace r1
