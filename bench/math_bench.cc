// Answers per second of the maths checker on JSONL pairs, single- and
// multi-threaded, in process (no start-up cost). Prints; asserts nothing.
//   math_bench pairs.jsonl [threads...]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "reward/math_checker.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace {

struct Pair {
  std::string gold, prediction;
};

double run(const std::vector<Pair>& pairs, int threads, int& correct) {
  r1::MathOptions options;
  std::atomic<size_t> next{0};
  std::atomic<int> ok{0};
  auto work = [&] {
    for (size_t i; (i = next++) < pairs.size();)
      ok += r1::math_answers_equal(pairs[i].gold, pairs[i].prediction, options) ? 1 : 0;
  };
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  correct = ok;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: math_bench pairs.jsonl [threads...]\n");
    return 1;
  }
  auto reader = r1::JsonlReader::open(argv[1]);
  if (!reader.ok()) {
    std::fprintf(stderr, "math_bench: %s\n", reader.status().message().c_str());
    return 1;
  }
  std::vector<Pair> pairs;
  rapidjson::Document doc;
  while (true) {
    auto more = reader->next(doc);
    if (!more.ok()) {
      std::fprintf(stderr, "math_bench: %s\n", more.status().message().c_str());
      return 1;
    }
    if (!*more) break;
    auto g = r1::json_string(doc, "gold", reader->where());
    auto p = r1::json_string(doc, "prediction", reader->where());
    if (!g.ok() || !p.ok()) {
      std::fprintf(stderr, "math_bench: %s\n", (g.ok() ? p.status() : g.status()).message().c_str());
      return 1;
    }
    pairs.push_back({*g, *p});
  }
  std::vector<int> thread_counts;
  for (int i = 2; i < argc; ++i) thread_counts.push_back(std::atoi(argv[i]));
  if (thread_counts.empty()) thread_counts = {1, 2};
  for (int threads : thread_counts) {
    int correct = 0;
    double s = run(pairs, threads, correct);
    std::printf("threads=%d pairs=%zu correct=%d seconds=%.3f answers_per_s=%.1f\n", threads, pairs.size(), correct, s,
                pairs.size() / s);
  }
  return 0;
}
