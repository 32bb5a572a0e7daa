// Reward-spec entries backed by models (reward/reward_spec.h), scored in
// batches on the learner's side, so local and remote rollout workers alike.
//
// A reward model:
//   {"model": DIR, "name": "helpful",
//    "params": {"normalize": "none", "batch_size": 16, "chat_template": "auto",
//               "device": "auto", "dtype": "auto"}}
// DIR is a *ForSequenceClassification folder with one label
// (reward/reward_model.h). A row is scored as the conversation its
// completion ends: [system,] user = the prompt, assistant = the completion,
// rendered whole by the reward model's chat template (TRL's conversational
// form); chat_template "none" scores prompt + completion as plain text with
// the eos appended (TRL's plain form). A row longer than the model's context
// keeps its last tokens ("truncated": true in its details). normalize:
// "none" keeps the raw score (what TRL's reward functions pass on);
// "sigmoid" maps it into (0, 1), the preference probability a Bradley-Terry
// score is the log-odds of; {"mean": m, "std": s} standardises it.
//
// An LLM judge:
//   {"judge": DIR, "template": "... {prompt} ... {completion} ... {answer} ...",
//    "params": {"verdict": "binary", "max_score": 10, "max_new_tokens": 256,
//               "batch_size": 16, "chat_template": "auto", "device": "auto", "dtype": "auto"}}
// DIR is a causal LM. Its prompt is the template with the row's prompt,
// completion and reference answer filled in, as the user turn of its chat
// template; it answers greedily (temperature 0: deterministic) through the
// one rollout path, and its verdict is read by reward/judge_verdict.h:
// "binary" [[YES]]/[[NO]] gives 1/0, "score" [[N]] gives N / max_score. An
// output without a verdict scores 0 with status "no_verdict" (or
// "out_of_range") in its details, beside the output's end.
#pragma once

namespace r1 {

// Lets reward specs hold {"model": DIR} and {"judge": DIR} entries in this
// program (CheckerRegistry::install_model_factory); the r1 binary calls it
// at start.
void install_model_checkers();

}  // namespace r1
