#include "data/batch_sampler.h"

#include <numeric>

#include "util/json.h"

namespace r1 {

namespace {

// SplitMix64 step: platform-independent, unlike std::shuffle's distributions.
uint64_t mix(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t below(uint64_t& state, uint64_t bound) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t x;
  do x = mix(state);
  while (x >= limit);
  return x % bound;
}

}  // namespace

BatchSampler::BatchSampler(int64_t size, uint64_t seed, SamplerCursor cursor)
    : size_(size), seed_(seed), cursor_(cursor) {
  shuffle_epoch();
}

Result<BatchSampler> BatchSampler::create(int64_t dataset_size, uint64_t seed, SamplerCursor cursor) {
  if (dataset_size < 1) return Status::error("batch sampler: the dataset is empty");
  if (cursor.epoch < 0 || cursor.position < 0 || cursor.position > dataset_size)
    return Status::error("batch sampler: cursor (epoch " + std::to_string(cursor.epoch) + ", position " +
                         std::to_string(cursor.position) + ") is outside a dataset of " +
                         std::to_string(dataset_size) + " examples");
  return BatchSampler(dataset_size, seed, cursor);
}

void BatchSampler::shuffle_epoch() {
  order_.resize(static_cast<size_t>(size_));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  uint64_t state = seed_ ^ (0xD1B54A32D192ED03ULL * static_cast<uint64_t>(cursor_.epoch + 1));
  for (int64_t i = size_ - 1; i > 0; --i) std::swap(order_[i], order_[below(state, static_cast<uint64_t>(i) + 1)]);
}

Result<std::vector<int64_t>> BatchSampler::next_batch(int64_t n) {
  if (n < 1) return Status::error("batch sampler: batch size must be >= 1, got " + std::to_string(n));
  if (n > size_)
    return Status::error("batch sampler: a batch of " + std::to_string(n) + " prompts needs at least " +
                         std::to_string(n) + " examples, the dataset has " + std::to_string(size_));
  std::vector<int64_t> batch;
  batch.reserve(static_cast<size_t>(n));
  while (static_cast<int64_t>(batch.size()) < n) {
    if (cursor_.position == size_) {
      ++cursor_.epoch;
      cursor_.position = 0;
      shuffle_epoch();
    }
    batch.push_back(order_[static_cast<size_t>(cursor_.position++)]);
  }
  return batch;
}

std::string BatchSampler::state_json() const {
  JsonWriter w;
  w.begin_object().key("seed").value(static_cast<int64_t>(seed_)).key("dataset_size").value(size_);
  w.key("epoch").value(cursor_.epoch).key("position").value(cursor_.position).end_object();
  return w.str();
}

Result<BatchSampler> BatchSampler::from_state_json(const std::string& json, int64_t dataset_size, uint64_t seed,
                                                   const std::string& where) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(json, where));
  if (!doc.IsObject()) return Status::error(where + ": sampler state must be a JSON object");
  R1_ASSIGN_OR_RETURN(int64_t saved_seed, json_int(doc, "seed", where));
  R1_ASSIGN_OR_RETURN(int64_t saved_size, json_int(doc, "dataset_size", where));
  SamplerCursor c;
  R1_ASSIGN_OR_RETURN(c.epoch, json_int(doc, "epoch", where));
  R1_ASSIGN_OR_RETURN(c.position, json_int(doc, "position", where));
  if (static_cast<uint64_t>(saved_seed) != seed)
    return Status::error(where + ": sampler state was saved with seed " + std::to_string(saved_seed) +
                         ", this run uses " + std::to_string(seed));
  if (saved_size != dataset_size)
    return Status::error(where + ": sampler state was saved for " + std::to_string(saved_size) +
                         " examples, the dataset now has " + std::to_string(dataset_size));
  Result<BatchSampler> s = create(dataset_size, seed, c);
  if (!s.ok()) return s.status().with_context(where);
  return s;
}

}  // namespace r1
