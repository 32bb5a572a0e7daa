// The checker of a reward-model entry in a reward spec (reward/reward_spec.h):
//
//   {"model": DIR, "name": "helpful",
//    "params": {"normalize": "none", "batch_size": 16, "chat_template": "auto",
//               "device": "auto", "dtype": "auto"}}
//
// DIR is a *ForSequenceClassification folder with one label
// (reward/reward_model.h). A row is scored as the conversation its
// completion ends: [system,] user = the prompt, assistant = the completion,
// rendered whole by the reward model's chat template (TRL's conversational
// form); chat_template "none" scores prompt + completion as plain text with
// the eos appended (TRL's plain form). Rows are scored in batches of
// batch_size without gradients; a row longer than the model's context keeps
// its last tokens and says so in its details ("truncated": true).
//
// normalize: "none" keeps the raw score (what TRL's reward functions pass
// on); "sigmoid" maps it into (0, 1), the preference probability a
// Bradley-Terry score is the log-odds of, on the scale of the rule rewards
// it sits beside; {"mean": m, "std": s} standardises it.
#pragma once

namespace r1 {

// Lets reward specs hold {"model": DIR} entries in this program
// (CheckerRegistry::install_model_factory); the r1 binary calls it at start.
void install_reward_model_checker();

}  // namespace r1
