#include "data/batch_sampler.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace r1 {
namespace {

std::vector<int64_t> take(BatchSampler& s, int batches, int n) {
  std::vector<int64_t> out;
  for (int b = 0; b < batches; ++b) {
    std::vector<int64_t> batch = value_or_throw(s.next_batch(n));
    out.insert(out.end(), batch.begin(), batch.end());
  }
  return out;
}

TEST(BatchSampler, EachEpochIsAPermutation) {
  BatchSampler s = value_or_throw(BatchSampler::create(13, 42));
  std::vector<int64_t> seq = take(s, 13, 3);  // 39 = three epochs
  for (int e = 0; e < 3; ++e) {
    std::vector<int64_t> epoch(seq.begin() + e * 13, seq.begin() + (e + 1) * 13);
    std::sort(epoch.begin(), epoch.end());
    for (int64_t i = 0; i < 13; ++i) ASSERT_EQ(epoch[i], i) << "epoch " << e;
  }
  EXPECT_FALSE(std::equal(seq.begin(), seq.begin() + 13, seq.begin() + 13)) << "epochs reshuffle";
  EXPECT_EQ(s.cursor().epoch, 2);
  EXPECT_EQ(s.cursor().position, 13);
}

TEST(BatchSampler, SeedDecidesTheOrder) {
  BatchSampler a = value_or_throw(BatchSampler::create(100, 1));
  BatchSampler b = value_or_throw(BatchSampler::create(100, 1));
  BatchSampler c = value_or_throw(BatchSampler::create(100, 2));
  std::vector<int64_t> sa = take(a, 10, 25), sb = take(b, 10, 25), sc = take(c, 10, 25);
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(BatchSampler, ResumedRunContinuesWithTheSamePrompts) {
  BatchSampler full = value_or_throw(BatchSampler::create(13, 7));
  std::vector<int64_t> expected = take(full, 9, 5);
  BatchSampler first = value_or_throw(BatchSampler::create(13, 7));
  std::vector<int64_t> head = take(first, 4, 5);
  std::string saved = first.state_json();
  BatchSampler resumed = value_or_throw(BatchSampler::from_state_json(saved, 13, 7, "state.json"));
  std::vector<int64_t> tail = take(resumed, 5, 5);
  head.insert(head.end(), tail.begin(), tail.end());
  EXPECT_EQ(head, expected);
}

TEST(BatchSampler, ErrorsNameTheSizes) {
  BatchSampler s = value_or_throw(BatchSampler::create(20, 0));
  Result<std::vector<int64_t>> r = s.next_batch(32);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("32"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("20"), std::string::npos) << r.status().message();
  EXPECT_FALSE(BatchSampler::create(0, 0).ok());
  EXPECT_FALSE(BatchSampler::create(5, 0, {0, 6}).ok());
  std::string state = s.state_json();
  EXPECT_NE(BatchSampler::from_state_json(state, 21, 0, "st").status().message().find("21"), std::string::npos);
  EXPECT_NE(BatchSampler::from_state_json(state, 20, 9, "st").status().message().find("seed"), std::string::npos);
  EXPECT_NE(BatchSampler::from_state_json("{\"seed\": 0}", 20, 0, "st").status().message().find("st:"),
            std::string::npos);
}

}  // namespace
}  // namespace r1
