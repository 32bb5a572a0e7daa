#include "eval/eval_metrics.h"

#include <cctype>
#include <map>

#include "reward/math_normalize.h"
#include "util/json.h"

namespace r1 {

double pass_at_k(int64_t n, int64_t c, int64_t k) {
  if (n - c < k) return 1.0;
  // C(n-c, k) / C(n, k) = prod_{i = n-c+1}^{n} (1 - k / i)
  double miss = 1.0;
  for (int64_t i = n - c + 1; i <= n; ++i) miss *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - miss;
}

Vote majority_vote(const std::vector<SampleOutcome>& samples) {
  struct Group {
    size_t first = 0;
    int64_t count = 0;
  };
  std::map<std::string, Group> groups;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (!samples[i].answer) continue;
    auto [it, inserted] = groups.try_emplace(*samples[i].answer, Group{i, 0});
    ++it->second.count;
  }
  const std::pair<const std::string, Group>* best = nullptr;
  for (const auto& g : groups)
    if (!best || g.second.count > best->second.count ||
        (g.second.count == best->second.count && g.second.first < best->second.first))
      best = &g;
  Vote vote;
  if (!best) return vote;
  vote.answer = best->first;
  vote.count = best->second.count;
  vote.correct = samples[best->second.first].correct;
  return vote;
}

Result<EvalMetrics> compute_metrics(const std::vector<std::vector<SampleOutcome>>& examples, bool voting) {
  EvalMetrics m;
  m.examples = static_cast<int64_t>(examples.size());
  if (examples.empty()) return Status::error("no examples to compute metrics on");
  m.k = static_cast<int64_t>(examples.front().size());
  if (m.k < 1) return Status::error("example 0 has no samples");
  double pass1 = 0, passk = 0, maj = 0;
  for (size_t e = 0; e < examples.size(); ++e) {
    const auto& samples = examples[e];
    if (static_cast<int64_t>(samples.size()) != m.k)
      return Status::error("example " + std::to_string(e) + " has " + std::to_string(samples.size()) +
                           " samples, example 0 has " + std::to_string(m.k));
    int64_t c = 0;
    for (const auto& s : samples) c += s.correct ? 1 : 0;
    pass1 += static_cast<double>(c) / static_cast<double>(m.k);
    passk += pass_at_k(m.k, c, m.k);
    if (voting) maj += majority_vote(samples).correct ? 1.0 : 0.0;
  }
  double n = static_cast<double>(examples.size());
  m.pass_at_1 = pass1 / n;
  m.pass_at_k = passk / n;
  if (voting) m.maj_at_k = maj / n;
  return m;
}

std::optional<std::string> answer_key(std::string_view answer) {
  std::string key;
  for (char c : normalize_answer(answer))
    if (!std::isspace(static_cast<unsigned char>(c))) key += c;
  if (key.empty()) return std::nullopt;
  return key;
}

std::optional<std::string> answer_from_details(const std::string& details_json, bool* has_answer_field) {
  if (has_answer_field) *has_answer_field = false;
  rapidjson::Document doc;
  doc.Parse(details_json.c_str(), details_json.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  for (const char* key : {"extracted", "equation"}) {
    auto it = doc.FindMember(key);
    if (it == doc.MemberEnd()) continue;
    if (has_answer_field) *has_answer_field = true;
    if (!it->value.IsString()) return std::nullopt;
    return answer_key(std::string_view(it->value.GetString(), it->value.GetStringLength()));
  }
  return std::nullopt;
}

}  // namespace r1
