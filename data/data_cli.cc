#include "data/data_cli.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>

#include "data/builtin_tasks.h"
#include "data/jsonl_dataset.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {

namespace {

struct ShowOptions {
  std::string dataset;
  std::string spec;
  std::string template_name;
  int64_t n = 3;
};

void add_task_flags(CLI::App* cmd, TaskOptions& t) {
  cmd->add_option("--task", t.task, "countdown or arithmetic")->required();
  cmd->add_option("--n", t.n, "number of problems")->required();
  cmd->add_option("--seed", t.seed, "random seed (same seed, same problems)");
  cmd->add_option("--heldout-percent", t.heldout_percent, "share of the problem space held out (1..99)");
  cmd->add_option("--min-numbers", t.min_numbers, "countdown: fewest numbers per problem");
  cmd->add_option("--max-numbers", t.max_numbers, "countdown: most numbers per problem");
  cmd->add_option("--min-number", t.min_number, "countdown: smallest number");
  cmd->add_option("--max-number", t.max_number, "countdown: largest number");
  cmd->add_option("--max-target", t.max_target, "countdown: largest target");
  cmd->add_option("--min-digits", t.min_digits, "arithmetic: fewest operand digits");
  cmd->add_option("--max-digits", t.max_digits, "arithmetic: most operand digits");
  cmd->add_option("--ops", t.ops, "arithmetic: operators to draw from, a subset of \"+-*\"");
  cmd->add_option("--kind", t.kind, "reasoning, or general (arithmetic asked for a brief answer)");
}

void run_tasks(const TaskOptions& t, const std::string& form, const std::string& out) {
  std::vector<std::string> rows = value_or_throw(task_rows_json(t, form));
  JsonlWriter writer = value_or_throw(JsonlWriter::open(out));
  for (const std::string& row : rows) throw_if_error(writer.write(row));
  throw_if_error(writer.commit());
  std::cerr << "r1 data tasks: " << rows.size() << " " << t.task << " " << t.split << " problems as " << form
            << " rows\n";
}

void run_corpus(const TaskOptions& t, const std::string& template_name, const std::string& out) {
  std::optional<ChatTemplate> tmpl = value_or_throw(spec_chat_template(template_name));
  std::vector<std::string> texts = value_or_throw(task_pretraining_corpus(t, tmpl));
  JsonlWriter writer = value_or_throw(JsonlWriter::open(out));
  for (const std::string& text : texts) {
    JsonWriter w;
    w.begin_object().key("text").value(text).end_object();
    throw_if_error(writer.write(w.str()));
  }
  throw_if_error(writer.commit());
  std::cerr << "r1 data corpus: " << texts.size() << " texts\n";
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

bool is_builtin(const std::string& name) {
  std::vector<std::string> names = builtin_dataset_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// --spec gives the mapping (its path replaced by --dataset if given); else a
// built-in name gives its own, and a plain file the defaults.
DatasetSpec resolve_spec(const ShowOptions& o) {
  if (o.dataset.empty() && o.spec.empty()) throw Error("give --dataset, --spec or both");
  DatasetSpec spec;
  if (!o.spec.empty()) {
    spec = value_or_throw(read_dataset_spec(o.spec));
    if (!o.dataset.empty())
      spec.path = is_builtin(o.dataset) ? value_or_throw(builtin_dataset_spec(o.dataset)).path : o.dataset;
  } else if (is_builtin(o.dataset)) {
    spec = value_or_throw(builtin_dataset_spec(o.dataset));
  } else if (std::filesystem::exists(o.dataset)) {
    spec.path = o.dataset;
  } else {
    throw Error("--dataset '" + o.dataset + "' is neither a file nor a built-in dataset (" +
                join_names(builtin_dataset_names()) + ")");
  }
  if (!o.template_name.empty()) spec.template_name = o.template_name;
  return spec;
}

std::string shorten(const std::string& s, size_t max_chars) {
  if (s.size() <= max_chars) return s;
  return s.substr(0, max_chars) + "... (" + std::to_string(s.size()) + " chars)";
}

void run_show(const ShowOptions& o) {
  Dataset ds = value_or_throw(load_dataset(resolve_spec(o)));
  std::optional<ChatTemplate> tmpl = value_or_throw(spec_chat_template(ds.spec.template_name));
  int64_t count = std::min<int64_t>(o.n, static_cast<int64_t>(ds.examples.size()));
  for (int64_t i = 0; i < count; ++i) {
    const Example& e = ds.examples[static_cast<size_t>(i)];
    std::cout << "=== " << e.id << " (" << e.where << ") ===\n" << value_or_throw(render_prompt(e, tmpl)) << "\n";
    if (ds.spec.answer_field) std::cout << "--- answer: " << e.answer << "\n";
    std::cout << "--- reference: " << shorten(e.reference_json, 400) << "\n";
  }
  std::cerr << "r1 data show: " << ds.examples.size() << " examples in " << ds.spec.path << ", template "
            << ds.spec.template_name << "\n";
}

void add_tasks(CLI::App* group) {
  auto t = std::make_shared<TaskOptions>();
  auto out = std::make_shared<std::string>();
  CLI::App* cmd = group->add_subcommand("tasks", "Generate Countdown or arithmetic problems as JSONL rows");
  add_task_flags(cmd, *t);
  cmd->add_option("--split", t->split, "train or heldout (disjoint by problem)");
  auto form = std::make_shared<std::string>("rows");
  cmd->add_option("--form", *form, "rows (prompts with references), sft (prompt + worked solution) or preferences "
                                   "(prompt, chosen, rejected)")
      ->capture_default_str();
  cmd->add_option("--out", *out, "output .jsonl ('-' for stdout)")->required();
  cmd->callback([t, form, out] { run_tasks(*t, *form, *out); });
}

void add_corpus(CLI::App* group) {
  auto t = std::make_shared<TaskOptions>();
  auto out = std::make_shared<std::string>();
  auto tmpl = std::make_shared<std::string>("r1_zero");
  CLI::App* cmd = group->add_subcommand(
      "corpus", "Write {\"text\": prompt + worked solution} rows (train split) for pretraining a tiny model");
  add_task_flags(cmd, *t);
  cmd->add_option("--template", *tmpl, "r1_zero, chatml, llama3 or none");
  cmd->add_option("--out", *out, "output .jsonl ('-' for stdout)")->required();
  cmd->callback([t, out, tmpl] { run_corpus(*t, *tmpl, *out); });
}

void add_show(CLI::App* group) {
  auto o = std::make_shared<ShowOptions>();
  CLI::App* cmd = group->add_subcommand("show", "Print the first rendered prompts of a dataset");
  cmd->add_option("--dataset", o->dataset, "a built-in name (gsm8k, math500, ...) or a .jsonl file");
  cmd->add_option("--spec", o->spec, "dataset spec JSON (field mapping; see docs/data.md)");
  cmd->add_option("--template", o->template_name, "override the spec's template");
  cmd->add_option("--n", o->n, "how many examples to print")->check(CLI::PositiveNumber);
  cmd->callback([o] { run_show(*o); });
}

}  // namespace

void add_data_commands(CLI::App& app) {
  CLI::App* group = app.add_subcommand("data", "Datasets and built-in tasks");
  group->require_subcommand(1);
  add_tasks(group);
  add_corpus(group);
  add_show(group);
}

}  // namespace r1
