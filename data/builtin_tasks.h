// Generated tasks for tiny models: Countdown (TinyZero style) and multi-digit
// arithmetic, deterministic from a seed, with train / held-out splits chosen
// by a hash of the canonical problem so the two never share a problem,
// whatever the seed or the order of generation. See docs/data.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/example.h"
#include "model/chat_template.h"
#include "util/status.h"

namespace r1 {

struct TaskOptions {
  std::string task = "countdown";  // countdown or arithmetic
  std::string split = "train";     // train or heldout
  int64_t n = 1000;                // problems to generate
  uint64_t seed = 0;
  bool unique = true;              // no canonical problem twice in one output
  int heldout_percent = 10;        // share of the problem space held out, 1..99
  // "reasoning", or "general" (arithmetic only): the same problems asked for
  // a brief answer, standing in for prompts no rule grades (the r1-tiny
  // recipe scores them with a reward model). Rows carry it as "kind", so a
  // reward spec can route on it; the split does not depend on it.
  std::string kind = "reasoning";

  // Countdown: how many numbers, their range, and the largest target.
  int min_numbers = 3;
  int max_numbers = 4;
  int min_number = 1;
  int max_number = 99;
  int64_t max_target = 999;

  // Arithmetic: operand digit counts and the operators to draw from.
  int min_digits = 1;
  int max_digits = 3;
  std::string ops = "+-*";
};

struct TaskProblem {
  std::string id;         // "<task>[-general]-<16 hex digits of the canonical hash>"
  std::string canonical;  // the problem up to operand order; the split key
  std::string prompt;
  std::string answer;     // arithmetic: the result; countdown: the reference equation
  std::string kind;       // TaskOptions::kind
  std::vector<int64_t> numbers;  // countdown only
  int64_t target = 0;            // countdown only
  // A worked solution in the R1 format on one line, so that the countdown
  // checker (which reads the final line) and format_lenient both accept it:
  // "<think>steps</think> <answer>answer</answer>".
  std::string solution;
};

// Checks the options (ranges, names) and names the offending one.
Status validate_task_options(const TaskOptions& options);

// `options.n` problems of the split, in generation order. Fails when the
// ranges allow too few distinct problems for `n` with `unique`.
Result<std::vector<TaskProblem>> generate_tasks(const TaskOptions& options);

// True when the canonical problem belongs to the held-out split.
bool is_heldout(const std::string& canonical, int heldout_percent);

// The JSONL row of a problem: id, prompt, kind, solution and the reference
// fields (countdown: numbers, target; arithmetic: answer).
std::string task_row_json(const std::string& task, const TaskProblem& problem);

// The problems as JSONL rows of one form:
//   "rows"         task_row_json (prompts with references: rl, eval, sample)
// Completions start with a space, as a model continues an r1_zero prompt
// ("... Assistant:") and as the pretraining corpus joins them.
//   "sft"          {"id", "prompt", "completion": the worked solution, "kind"}
//   "preferences"  {"id", "prompt", "chosen", "rejected", "kind"} (arithmetic):
//                  the worked solution beats, in turn, the same solution
//                  with a wrong result (off by 1 or 10, or of the wrong
//                  sign), one whose steps ramble (said three times over)
//                  and a terse wrong guess (steps skipped, the result's
//                  last digit dropped): concise, worked and correct wins
Result<std::vector<std::string>> task_rows_json(const TaskOptions& options, const std::string& form);

// Examples (reference_json holds the checker's fields) for the trainer.
std::vector<Example> task_examples(const std::string& task, const std::vector<TaskProblem>& problems);

// Texts for briefly pretraining a tiny base model: each prompt rendered with
// `tmpl` (none: the bare prompt) followed by its worked solution. Always
// drawn from the train split, so held-out problems stay unseen.
Result<std::vector<std::string>> task_pretraining_corpus(const TaskOptions& options,
                                                         const std::optional<ChatTemplate>& tmpl);

}  // namespace r1
