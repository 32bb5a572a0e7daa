// What a reward function returns for one completion: plain data, so the
// sample record (rollout/sample.h) can carry it without the checkers.
#pragma once

#include <string>
#include <vector>

namespace r1 {

struct ComponentScore {
  std::string name;
  double weight = 1.0;
  double score = 0.0;
  std::string details = "{}";  // JSON object text from the checker
};

struct RewardResult {
  std::vector<ComponentScore> components;  // in spec order, then shaping terms the job adds
  double total = 0.0;                      // sum of weight * score
  // {"components": {name: score}, "total": t, "details": {name: {...}}}
  std::string to_json() const;
};

}  // namespace r1
