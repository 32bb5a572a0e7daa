#include "util/process.h"

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <vector>

namespace r1 {

namespace {

Result<int64_t> parse_count(const char* name, const char* value, int64_t unset) {
  if (!value) return unset;
  std::string_view text(value);
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 0)
    return Status::error(std::string(name) + "='" + std::string(text) + "': expected a whole number >= 0");
  return n;
}

}  // namespace

Result<ProcessInfo> parse_process_info(const char* rank, const char* world_size) {
  ProcessInfo p;
  R1_ASSIGN_OR_RETURN(p.rank, parse_count("RANK", rank, 0));
  R1_ASSIGN_OR_RETURN(p.world_size, parse_count("WORLD_SIZE", world_size, 1));
  if (p.world_size < 1) return Status::error("WORLD_SIZE=0: expected at least 1 process");
  if (p.rank >= p.world_size)
    return Status::error("RANK=" + std::to_string(p.rank) + " is not below WORLD_SIZE=" + std::to_string(p.world_size));
  if (p.world_size != 1)
    return Status::error("WORLD_SIZE=" + std::to_string(p.world_size) +
                         ": r1 runs as one process for now (data-parallel training is not implemented yet); unset RANK and "
                         "WORLD_SIZE, or launch one process");
  return p;
}

Result<ProcessInfo> process_info_from_env() {
  return parse_process_info(std::getenv("RANK"), std::getenv("WORLD_SIZE"));
}

std::string executable_dir() {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

std::string resource_dir(const char* env_var, const std::vector<std::string>& near_binary) {
  if (const char* env = std::getenv(env_var); env && *env) return env;
  const std::filesystem::path exe = executable_dir();
  std::error_code ec;
  for (const std::string& relative : near_binary) {
    std::filesystem::path dir = (exe / relative).lexically_normal();
    if (std::filesystem::is_directory(dir, ec)) return dir.string();
  }
  return "";
}

}  // namespace r1
