#include "rollout/wire_mac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include "rollout/wire_frame.h"

namespace r1 {

namespace {

constexpr const char* kLearnerToWorker = "r1 session learner to worker";
constexpr const char* kWorkerToLearner = "r1 session worker to learner";

std::string derive(const std::string& key, const char* label, const std::string& learner_nonce,
                   const std::string& worker_nonce) {
  return hmac_sha256(key, std::string(label) + '\0' + learner_nonce + worker_nonce);
}

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

bool same_mac(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

SessionKeys derive_session_keys(const std::string& key, const std::string& learner_nonce,
                                const std::string& worker_nonce) {
  return {.learner_to_worker = derive(key, kLearnerToWorker, learner_nonce, worker_nonce),
          .worker_to_learner = derive(key, kWorkerToLearner, learner_nonce, worker_nonce)};
}

std::string frame_mac(std::string_view key, uint64_t seq, std::string_view prefix, std::string_view header,
                      std::string_view payload) {
  // Streamed through one HMAC context: a payload of hundreds of MiB is not
  // copied to be authenticated.
  unsigned char seq_bytes[8];
  for (int i = 0; i < 8; ++i) seq_bytes[i] = static_cast<unsigned char>(seq >> (56 - 8 * i));
  static EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);  // fetched once, never freed
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
  EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params);
  EVP_MAC_update(ctx, seq_bytes, sizeof(seq_bytes));
  for (std::string_view part : {prefix, header, payload})
    EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(part.data()), part.size());
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t len = 0;
  EVP_MAC_final(ctx, mac, &len, sizeof(mac));
  EVP_MAC_CTX_free(ctx);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

Result<std::string> FrameSealer::seal(const std::string& header_json, std::string_view payload) {
  R1_ASSIGN_OR_RETURN(std::string bytes, encode_frame(header_json, payload));
  if (!active()) return bytes;
  std::string_view all(bytes);
  bytes += frame_mac(key_, seq_++, all.substr(0, kFramePrefixBytes), header_json, payload);
  return bytes;
}

}  // namespace r1
