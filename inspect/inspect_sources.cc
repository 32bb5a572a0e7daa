#include "inspect/inspect_sources.h"

#include <algorithm>
#include <filesystem>

namespace r1 {

namespace fs = std::filesystem;

namespace {

bool inside(const fs::path& root, const fs::path& p) {
  auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return r == root.end();
}

// The canonical path of an existing file of `root`; symlinks may point
// elsewhere inside it, never out.
Result<fs::path> resolve_inside(const fs::path& root, const fs::path& file, const std::string& name) {
  std::error_code ec;
  fs::path real = fs::canonical(file, ec);
  if (ec) return Status::error(name + ": " + ec.message());
  if (!inside(root, real))
    return Status::error(name + " leads out of " + root.string() + " (a symlink to " + real.string() + "); refused");
  return real;
}

Status add_run_folder(const std::string& arg, std::vector<InspectSource>& out) {
  std::error_code ec;
  fs::path root = fs::canonical(arg, ec);
  if (ec) return Status::error(arg + ": " + ec.message());
  bool has_db = fs::exists(root / "rollouts.db"), has_metrics = fs::exists(root / "metrics.jsonl");
  bool has_eval = fs::exists(root / "eval.db");
  if (!has_db && !has_metrics && !has_eval)
    return Status::error(arg + ": not a run folder (no rollouts.db, metrics.jsonl or eval.db)");
  if (has_db || has_metrics) {
    InspectSource s{arg, "run", root.string(), (root / "rollouts.db").string(), ""};
    if (has_db) R1_RETURN_IF_ERROR(resolve_inside(root, root / "rollouts.db", arg + "/rollouts.db").status());
    if (has_metrics) {
      R1_RETURN_IF_ERROR(resolve_inside(root, root / "metrics.jsonl", arg + "/metrics.jsonl").status());
      s.metrics_path = (root / "metrics.jsonl").string();
    }
    out.push_back(std::move(s));
  }
  if (has_eval) {
    R1_RETURN_IF_ERROR(resolve_inside(root, root / "eval.db", arg + "/eval.db").status());
    out.push_back(
        {arg + (has_db || has_metrics ? "/eval.db" : ""), "eval", root.string(), (root / "eval.db").string(), ""});
  }
  return Status();
}

// A database named explicitly: its real file (the user chose it, symlink or
// not) and, beside a rollouts.db, the run's metrics.jsonl.
Status add_db_file(const std::string& arg, std::vector<InspectSource>& out) {
  std::error_code ec;
  fs::path real = fs::canonical(arg, ec);
  if (ec) return Status::error(arg + ": " + ec.message());
  if (!fs::is_regular_file(real)) return Status::error(arg + ": not a folder nor a database file");
  fs::path root = real.parent_path();
  InspectSource s{arg, fs::path(arg).filename() == "eval.db" ? "eval" : "run", root.string(), real.string(), ""};
  if (fs::path(arg).filename() == "rollouts.db" && fs::exists(root / "metrics.jsonl") &&
      resolve_inside(root, root / "metrics.jsonl", "metrics.jsonl").ok())
    s.metrics_path = (root / "metrics.jsonl").string();
  out.push_back(std::move(s));
  return Status();
}

}  // namespace

Result<std::vector<InspectSource>> resolve_inspect_sources(const std::vector<std::string>& args) {
  std::vector<InspectSource> out;
  for (const std::string& arg : args) {
    std::error_code ec;
    if (!fs::exists(arg, ec)) return Status::error(arg + ": no such run folder or database");
    R1_RETURN_IF_ERROR(fs::is_directory(arg, ec) ? add_run_folder(arg, out) : add_db_file(arg, out));
  }
  return out;
}

Result<std::string> confined_file(const InspectSource& source, const std::string& path) {
  std::error_code ec;
  std::string name = source.name + ": " + fs::path(path).filename().string();
  if (!fs::exists(path, ec))
    return Status::error(name + " does not exist (yet)" +
                         (source.kind == "run" ? "; the run has not written it" : std::string()));
  R1_ASSIGN_OR_RETURN(fs::path real, resolve_inside(source.root, path, name));
  return real.string();
}

}  // namespace r1
