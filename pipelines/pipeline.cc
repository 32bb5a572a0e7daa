#include "pipelines/pipeline.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <set>
#include <utility>

#include "pipelines/stages.h"
#include "train/metrics_plot.h"
#include "train/run_log.h"
#include "train/train_state.h"
#include "util/file.h"
#include "util/json.h"
#include "util/process.h"
#include "util/text_table.h"

namespace r1 {

namespace {

namespace fs = std::filesystem;

constexpr const char* kDoneFile = ".done";
constexpr const char* kStageConfigFile = "stage_config.json";

// An absolute path without a trailing separator, so stage paths are the same
// whatever the working directory and however --out was spelled.
std::string normal_run_dir(const std::string& run_dir) {
  fs::path p = fs::absolute(run_dir).lexically_normal();
  if (!p.has_filename() && p.has_parent_path()) p = p.parent_path();
  return p.string();
}

// The top-level config keys whose values come from earlier stages.
std::set<std::string> keys_from_stages(const RecipeStage& stage) {
  std::set<std::string> keys;
  for (const Reference& ref : stage.references) {
    if (ref.scope != "stages") continue;
    std::string rest = ref.key.substr(ref.key.find(".config.") + 8);
    keys.insert(rest.substr(0, rest.find_first_of(".[")));
  }
  return keys;
}

std::string file_in(const std::string& dir, const char* name) { return (fs::path(dir) / name).string(); }

StageReport stage_state(const std::string& run_dir, const RecipeStage& s) {
  StageReport r;
  r.name = s.name;
  r.type = s.type;
  r.dir = stage_dir(run_dir, s.name);
  auto done = read_json_file(file_in(r.dir, kDoneFile));
  if (done.ok() && done->IsObject()) {
    r.status = "done";
    if (done->HasMember("metrics")) r.metrics_json = json_to_string((*done)["metrics"]);
    if (done->HasMember("seconds") && (*done)["seconds"].IsNumber()) r.seconds = (*done)["seconds"].GetDouble();
    return r;
  }
  if (!fs::exists(r.dir)) return r;
  r.status = "started";
  auto last = find_last_checkpoint(r.dir);
  if (last.ok() && !last->empty()) {
    r.status = "interrupted";
    r.detail = fs::path(*last).filename().string();
  }
  return r;
}

std::vector<Comparison> comparisons(const Recipe& recipe, const std::vector<StageReport>& stages) {
  std::vector<Comparison> out;
  auto pass_at_1 = [&](size_t i) -> std::optional<double> {
    if (stages[i].status != "done") return std::nullopt;
    auto m = parse_json(stages[i].metrics_json, stages[i].name);
    if (!m.ok() || !m->IsObject() || !m->HasMember("pass@1") || !(*m)["pass@1"].IsNumber()) return std::nullopt;
    return (*m)["pass@1"].GetDouble();
  };
  for (size_t i = 0; i < recipe.stages.size(); ++i) {
    if (recipe.stages[i].compare_to.empty()) continue;
    size_t j = static_cast<size_t>(recipe.find_stage(recipe.stages[i].compare_to));
    std::optional<double> a = pass_at_1(i), b = pass_at_1(j);
    if (!a || !b) continue;
    Comparison c{recipe.stages[i].name, recipe.stages[j].name, *a, *b, std::nullopt};
    if (*b > 0) c.ratio = *a / *b;
    out.push_back(c);
  }
  return out;
}

// RUN_DIR/curves.svg: the metrics.jsonl curves of every stage that trained
// (r1 plot's drawing), beside report.json.
Status write_curves(const PipelineReport& report) {
  std::vector<RunCurves> runs;
  for (const StageReport& s : report.stages) {
    if (!fs::exists(file_in(s.dir, "metrics.jsonl"))) continue;
    R1_ASSIGN_OR_RETURN(RunCurves run, read_run_curves(s.dir));
    run.name = s.name + " (" + s.type + ")";
    if (!run.metrics.empty()) runs.push_back(std::move(run));
  }
  if (runs.empty()) return Status();
  R1_ASSIGN_OR_RETURN(std::string svg, plot_curves_svg(runs, {}));
  return write_file_atomic(file_in(report.run_dir, "curves.svg"), svg);
}

PipelineReport make_report(const Recipe& recipe, const std::string& run_dir) {
  PipelineReport report;
  report.recipe = recipe.name;
  report.run_dir = run_dir;
  for (const RecipeStage& s : recipe.stages) report.stages.push_back(stage_state(run_dir, s));
  report.comparisons = comparisons(recipe, report.stages);
  return report;
}

// A rerun must not mix configs: a stage that started or finished under
// another config, or a finished stage whose input stage is not finished
// (deleted to be redone), is an error naming the stage and the first
// differing key.
Status check_run_folder(const Recipe& recipe, const std::string& run_dir,
                        const std::vector<rapidjson::Document>& configs) {
  std::vector<StageReport> states;
  for (const RecipeStage& s : recipe.stages) states.push_back(stage_state(run_dir, s));
  for (size_t i = 0; i < recipe.stages.size(); ++i) {
    const RecipeStage& s = recipe.stages[i];
    std::string path = file_in(stage_dir(run_dir, s.name), kStageConfigFile);
    if (fs::exists(path)) {
      R1_ASSIGN_OR_RETURN(rapidjson::Document stored, read_json_file(path));
      std::string diff = first_json_difference(configs[i], stored);
      if (!diff.empty())
        return Status::error("stage '" + s.name + "' was " + (states[i].status == "done" ? "run" : "started") +
                             " with another config (key '" + diff + "' differs from " + path +
                             "); give the same --set values as before, use another --out, or delete " +
                             stage_dir(run_dir, s.name) + " to redo the stage");
    }
    if (states[i].status != "done") continue;
    for (size_t j : s.inputs)
      if (states[j].status != "done")
        return Status::error("stage '" + s.name + "' is done but its input stage '" + recipe.stages[j].name +
                             "' is not: delete " + stage_dir(run_dir, s.name) +
                             " too, so it is redone on the new input");
  }
  return Status();
}

// Held while a run uses the folder, so two runners never write one run;
// the kernel drops it when the process dies, SIGKILL included.
class RunLock {
 public:
  static Result<RunLock> acquire(const std::string& run_dir) {
    std::string path = file_in(run_dir, ".lock");
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status::error(path + ": cannot open");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return Status::error(run_dir + ": another r1 pipeline run is using this folder");
    }
    return RunLock(fd);
  }
  RunLock(RunLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  RunLock& operator=(RunLock&&) = delete;
  ~RunLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_;
};

std::string utc_now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return stamp;
}

Status check_stage(const Recipe& recipe, size_t i, const std::string& run_dir, bool check_inputs) {
  const RecipeStage& s = recipe.stages[i];
  R1_ASSIGN_OR_RETURN(rapidjson::Document config, resolve_stage_config(recipe, i, run_dir));
  R1_RETURN_IF_ERROR(check_stage_config(s.type, config, stage_where(recipe, i)));
  if (!check_inputs) return Status();
  return check_stage_inputs(s.type, config, stage_where(recipe, i), keys_from_stages(s));
}

}  // namespace

Status check_recipe(const Recipe& recipe, const std::string& run_dir, bool check_inputs) {
  std::string errors;  // every stage is checked, so one run of validate shows them all
  for (size_t i = 0; i < recipe.stages.size(); ++i) {
    Status s = check_stage(recipe, i, run_dir, check_inputs);
    if (!s.ok()) errors += (errors.empty() ? "" : "\n") + s.message();
  }
  return errors.empty() ? Status() : Status::error(errors);
}

Result<PipelineReport> run_pipeline(const Recipe& recipe, const std::string& run_dir_in, std::FILE* log) {
  R1_ASSIGN_OR_RETURN(ProcessInfo process, process_info_from_env());
  R1_RETURN_IF_ERROR(one_process_only(process, "r1 pipeline run"));
  const std::string run_dir = normal_run_dir(run_dir_in);
  R1_RETURN_IF_ERROR(check_recipe(recipe, run_dir, /*check_inputs=*/true));
  std::vector<rapidjson::Document> configs;
  for (size_t i = 0; i < recipe.stages.size(); ++i) {
    R1_ASSIGN_OR_RETURN(rapidjson::Document config, resolve_stage_config(recipe, i, run_dir));
    configs.push_back(std::move(config));
  }
  R1_RETURN_IF_ERROR(make_dirs(run_dir));
  R1_ASSIGN_OR_RETURN(RunLock lock, RunLock::acquire(run_dir));
  R1_RETURN_IF_ERROR(check_run_folder(recipe, run_dir, configs));
  R1_RETURN_IF_ERROR(write_file_atomic(file_in(run_dir, "recipe.json"), recipe_json(recipe) + "\n"));

  const size_t n = recipe.stages.size();
  for (size_t i = 0; i < n; ++i) {
    const RecipeStage& s = recipe.stages[i];
    StageReport state = stage_state(run_dir, s);
    if (state.status == "done") {
      if (log) std::fprintf(log, "== [%zu/%zu] %s (%s): done, skipped\n", i + 1, n, s.name.c_str(), s.type.c_str());
      continue;
    }
    if (log)
      std::fprintf(log, "== [%zu/%zu] %s (%s)%s -> %s\n", i + 1, n, s.name.c_str(), s.type.c_str(),
                   state.status == "interrupted" ? (", resuming from " + state.detail).c_str() : "",
                   state.dir.c_str());
    R1_RETURN_IF_ERROR(make_dirs(state.dir));
    R1_RETURN_IF_ERROR(write_file_atomic(file_in(state.dir, kStageConfigFile), json_to_string(configs[i]) + "\n"));
    auto start = std::chrono::steady_clock::now();
    Result<std::string> metrics = run_stage(s.type, configs[i], stage_where(recipe, i), log);
    if (!metrics.ok()) return metrics.status().with_context("stage '" + s.name + "' (" + s.type + ")");
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    JsonWriter done;
    done.begin_object().key("stage").value(s.name).key("type").value(s.type).key("seconds").value(seconds);
    done.key("finished_at").value(utc_now()).key("metrics").raw(*metrics).end_object();
    R1_RETURN_IF_ERROR(write_file_atomic(file_in(state.dir, kDoneFile), done.str() + "\n"));
    if (log) {
      R1_ASSIGN_OR_RETURN(rapidjson::Document m, parse_json(*metrics, "metrics"));
      std::fprintf(log, "== %s done in %s: %s\n", s.name.c_str(), format_duration(seconds).c_str(),
                   format_stage_metrics(s.type, m).c_str());
    }
  }
  PipelineReport report = make_report(recipe, run_dir);
  R1_RETURN_IF_ERROR(write_curves(report));
  R1_RETURN_IF_ERROR(write_file_atomic(file_in(run_dir, "report.json"), report.to_json() + "\n"));
  return report;
}

Result<PipelineReport> pipeline_status(const std::string& run_dir_in) {
  const std::string run_dir = normal_run_dir(run_dir_in);
  std::string path = file_in(run_dir, "recipe.json");
  if (!fs::exists(path)) return Status::error(run_dir + ": not a pipeline run folder (no recipe.json)");
  R1_ASSIGN_OR_RETURN(Recipe recipe, load_recipe(path));
  return make_report(recipe, run_dir);
}

std::string PipelineReport::to_json() const {
  JsonWriter w;
  w.begin_object().key("recipe").value(recipe).key("run_dir").value(run_dir).key("stages").begin_array();
  for (const StageReport& s : stages) {
    w.begin_object().key("name").value(s.name).key("type").value(s.type).key("status").value(s.status);
    if (!s.detail.empty()) w.key("detail").value(s.detail);
    w.key("dir").value(s.dir).key("seconds").value(s.seconds).key("metrics").raw(s.metrics_json).end_object();
  }
  w.end_array().key("comparisons").begin_array();
  for (const Comparison& c : comparisons) {
    w.begin_object().key("stage").value(c.stage).key("baseline").value(c.baseline).key("metric").value("pass@1");
    w.key("value").value(c.value).key("baseline_value").value(c.baseline_value).key("ratio");
    if (c.ratio)
      w.value(*c.ratio);
    else
      w.null();
    w.end_object();
  }
  w.end_array().end_object();
  return w.str();
}

void PipelineReport::print(std::ostream& out) const {
  out << "recipe " << recipe << " in " << run_dir << "\n";
  TextTable t({"stage", "type", "status", "time", "pass@1", "metrics"});
  for (const StageReport& s : stages) {
    rapidjson::Document m;
    m.Parse(s.metrics_json.c_str());
    std::string status = s.detail.empty() ? s.status : s.status + " (" + s.detail + ")";
    std::string time = s.status == "done" ? format_duration(s.seconds) : "-";
    std::string pass = "-";
    if (s.type == "eval" && m.IsObject() && m.HasMember("pass@1") && m["pass@1"].IsNumber())
      pass = fixed(m["pass@1"].GetDouble(), 4);
    t.add_row({s.name, s.type, status, time, pass, format_stage_metrics(s.type, m)});
  }
  t.print(out);
  for (const Comparison& c : comparisons)
    out << c.stage << " / " << c.baseline << " pass@1: " << fixed(c.value, 4) << " / " << fixed(c.baseline_value, 4)
        << " = " << (c.ratio ? fixed(*c.ratio, 3) : std::string("n/a (baseline 0)")) << "\n";
}

}  // namespace r1
