// Name → entry tables (advantage estimators, loss types, presets, reward
// checkers): one lookup whose error lists the known names, in one place.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace r1 {

template <typename T>
using Registry = std::map<std::string, T, std::less<>>;

template <typename T>
std::vector<std::string> registry_names(const Registry<T>& registry) {
  std::vector<std::string> names;
  for (const auto& entry : registry) names.push_back(entry.first);
  return names;
}

// "a, b, c": the names, sorted, for error messages.
inline std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The entry named `name`, else "unknown <what> '<name>' (known: ...)".
template <typename T>
Result<T> registry_lookup(const Registry<T>& registry, std::string_view name, std::string_view what) {
  auto it = registry.find(name);
  if (it != registry.end()) return it->second;
  return Status::error("unknown " + std::string(what) + " '" + std::string(name) + "' (known: " +
                       join_names(registry_names(registry)) + ")");
}

}  // namespace r1
