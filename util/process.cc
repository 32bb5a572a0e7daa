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


Result<int64_t> need_count(const EnvLookup& env, const char* name) {
  const char* v = env(name);
  if (!v) return Status::error(std::string(name) + " is unset");
  return parse_count(name, v, 0);
}

Status check_ranks(const ProcessInfo& p, const char* rank_var, const char* size_var) {
  if (p.world_size < 1) return Status::error(std::string(size_var) + "=0: expected at least 1 process");
  if (p.rank >= p.world_size)
    return Status::error(std::string(rank_var) + "=" + std::to_string(p.rank) + " is not below " + size_var + "=" +
                         std::to_string(p.world_size));
  return Status();
}

Result<int64_t> parse_port(const char* name, const char* value) {
  R1_ASSIGN_OR_RETURN(int64_t port, parse_count(name, value, 0));
  if (port < 1 || port > 65535) return Status::error(std::string(name) + "='" + value + "': expected a port, 1..65535");
  return port;
}

// torchrun, or RANK and WORLD_SIZE set by hand.
Result<ProcessInfo> from_torch_variables(const EnvLookup& env) {
  ProcessInfo p;
  p.launcher = env("TORCHELASTIC_RUN_ID") ? "torchrun" : "env";
  R1_ASSIGN_OR_RETURN(p.rank, parse_count("RANK", env("RANK"), 0));
  R1_ASSIGN_OR_RETURN(p.world_size, parse_count("WORLD_SIZE", env("WORLD_SIZE"), 1));
  R1_RETURN_IF_ERROR(check_ranks(p, "RANK", "WORLD_SIZE"));
  if (p.world_size == 1) return p;
  // An unset LOCAL_RANK would put every rank of a host on GPU 0.
  R1_ASSIGN_OR_RETURN(p.local_rank, need_count(env, "LOCAL_RANK"));
  const char* addr = env("MASTER_ADDR");
  if (!addr || !*addr) return Status::error("MASTER_ADDR is unset: the host of rank 0, where the ranks meet");
  p.master_addr = addr;
  if (!env("MASTER_PORT")) return Status::error("MASTER_PORT is unset: the port where the ranks meet");
  R1_ASSIGN_OR_RETURN(p.master_port, parse_port("MASTER_PORT", env("MASTER_PORT")));
  const char* agent_store = env("TORCHELASTIC_USE_AGENT_STORE");
  p.launcher_hosts_store = agent_store && std::string_view(agent_store) == "True";
  return p;
}

// srun: one task per rank; no launcher store, so rank 0 hosts it.
Result<ProcessInfo> from_slurm_variables(const EnvLookup& env) {
  ProcessInfo p;
  p.launcher = "slurm";
  R1_ASSIGN_OR_RETURN(p.rank, need_count(env, "SLURM_PROCID"));
  R1_ASSIGN_OR_RETURN(p.world_size, need_count(env, "SLURM_NTASKS"));
  R1_RETURN_IF_ERROR(check_ranks(p, "SLURM_PROCID", "SLURM_NTASKS"));
  R1_ASSIGN_OR_RETURN(p.local_rank, need_count(env, "SLURM_LOCALID"));
  if (const char* addr = env("MASTER_ADDR"); addr && *addr) {
    p.master_addr = addr;
  } else {
    const char* list = env("SLURM_JOB_NODELIST");
    if (!list) return Status::error("SLURM_JOB_NODELIST is unset and so is MASTER_ADDR: no host for rank 0");
    R1_ASSIGN_OR_RETURN(std::vector<std::string> hosts, expand_slurm_nodelist(list));
    p.master_addr = hosts.front();
  }
  if (const char* port = env("MASTER_PORT")) {
    R1_ASSIGN_OR_RETURN(p.master_port, parse_port("MASTER_PORT", port));
  } else {
    R1_ASSIGN_OR_RETURN(int64_t job, need_count(env, "SLURM_JOB_ID"));
    p.master_port = 15000 + job % 20000;
  }
  return p;
}

// "07-10" -> 07, 08, 09, 10 (the lower bound's width pads them all).
Status expand_range(std::string_view item, const std::string& list, std::vector<std::string>& out) {
  size_t dash = item.find('-');
  std::string_view lo = item.substr(0, dash), hi = dash == std::string_view::npos ? lo : item.substr(dash + 1);
  auto bad = [&] { return Status::error("SLURM_JOB_NODELIST='" + list + "': '" + std::string(item) +
                                         "' is not a number or a range a-b"); };
  int64_t a = 0, b = 0;
  auto ra = std::from_chars(lo.data(), lo.data() + lo.size(), a);
  auto rb = std::from_chars(hi.data(), hi.data() + hi.size(), b);
  if (lo.empty() || hi.empty() || ra.ec != std::errc() || rb.ec != std::errc() || ra.ptr != lo.data() + lo.size() ||
      rb.ptr != hi.data() + hi.size() || b < a || b - a > 100000)
    return bad();
  for (int64_t n = a; n <= b; ++n) {
    std::string digits = std::to_string(n);
    out.push_back(std::string(digits.size() < lo.size() ? lo.size() - digits.size() : 0, '0') + digits);
  }
  return Status();
}

// One name with bracket groups: "r[1-2]n[01-02]" -> r1n01, r1n02, r2n01, r2n02.
Status expand_name(std::string_view name, const std::string& list, std::vector<std::string>& out) {
  std::vector<std::string> partial = {""};
  size_t i = 0;
  while (i < name.size()) {
    size_t open = name.find('[', i);
    std::string_view text = name.substr(i, open == std::string_view::npos ? std::string_view::npos : open - i);
    for (std::string& p : partial) p += text;
    if (open == std::string_view::npos) break;
    size_t close = name.find(']', open);
    if (close == std::string_view::npos)
      return Status::error("SLURM_JOB_NODELIST='" + list + "': a '[' without its ']'");
    std::vector<std::string> numbers;
    std::string_view inside = name.substr(open + 1, close - open - 1);
    for (size_t start = 0; start <= inside.size();) {
      size_t comma = std::min(inside.find(',', start), inside.size());
      R1_RETURN_IF_ERROR(expand_range(inside.substr(start, comma - start), list, numbers));
      start = comma + 1;
    }
    if (partial.size() * numbers.size() > 100000)
      return Status::error("SLURM_JOB_NODELIST='" + list + "': more than 100000 hosts");
    std::vector<std::string> next;
    for (const std::string& p : partial)
      for (const std::string& n : numbers) next.push_back(p + n);
    partial = std::move(next);
    i = close + 1;
  }
  out.insert(out.end(), partial.begin(), partial.end());
  return Status();
}

}  // namespace

Result<std::vector<std::string>> expand_slurm_nodelist(std::string_view list) {
  const std::string whole(list);
  std::vector<std::string> hosts;
  // Names are separated by commas outside brackets.
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= list.size(); ++i) {
    if (i < list.size() && list[i] == '[') ++depth;
    if (i < list.size() && list[i] == ']') --depth;
    if (depth < 0) return Status::error("SLURM_JOB_NODELIST='" + whole + "': a ']' without its '['");
    if (i == list.size() || (list[i] == ',' && depth == 0)) {
      std::string_view name = list.substr(start, i - start);
      if (name.empty()) return Status::error("SLURM_JOB_NODELIST='" + whole + "': an empty host name");
      R1_RETURN_IF_ERROR(expand_name(name, whole, hosts));
      start = i + 1;
    }
  }
  return hosts;
}

Result<ProcessInfo> read_process_info(const EnvLookup& env) {
  if (env("RANK") || env("WORLD_SIZE")) return from_torch_variables(env);
  if (env("SLURM_PROCID")) return from_slurm_variables(env);
  return ProcessInfo{};
}

Result<ProcessInfo> process_info_from_env() {
  return read_process_info([](const char* name) { return std::getenv(name); });
}

Status one_process_only(const ProcessInfo& p, const std::string& command) {
  if (p.world_size == 1) return Status();
  return Status::error(
      "WORLD_SIZE=" + std::to_string(p.world_size) + " (" + p.launcher + "): " + command +
      " runs as one process (only `r1 rl` and `r1 sft` run as several ranks so far); launch one process");
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
