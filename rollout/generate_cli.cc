#include "rollout/generate_cli.h"

#include <cstdio>
#include <memory>

#include "model/cli_inputs.h"
#include "rollout/rollout_worker.h"
#include "rollout/rollout_worker_pool.h"
#include "util/jsonl.h"

namespace r1 {

namespace {

struct GenerateCommand {
  ModelOptions model;
  std::string prompts;
  std::string output = "-";
  std::string template_name = "none";
  RolloutSampling sampling;
  bool quiet = false;
  RolloutWorkerOptions rollout;  // --rollout-worker, --auth-key-file, --worker-timeout, --heartbeat-timeout
  int64_t policy_version = 0;  // the version the worker must sample with
};

std::string sample_row(const Sample& s, const std::string& prompt_text) {
  JsonWriter w;
  w.begin_object().key("prompt_index").value(s.prompt_index).key("sample_index").value(s.sample_index);
  w.key("prompt").value(prompt_text).key("completion").value(s.completion);
  w.key("token_ids").array(s.token_ids);
  w.key("logprobs").array(std::vector<double>(s.logprobs.begin(), s.logprobs.end()));
  w.key("finish_reason").value(s.finish_reason).end_object();
  return w.str();
}

// Through the remote workers when some are given (the model folder then
// only lends its tokenizer; errors name the worker), else in this process.
Result<RolloutResult> sample(const GenerateCommand& o, const std::optional<Tokenizer>& tok,
                             const RolloutRequest& request) {
  if (!o.rollout.workers.empty()) {
    std::unique_ptr<RolloutWorker> pool = value_or_throw(remote_rollout_pool(o.rollout, o.quiet ? nullptr : stderr));
    return value_or_throw(pool->run(request));
  }
  Transformer model = load_model(o.model);
  LocalRolloutWorker worker(model, tok ? &*tok : nullptr);
  return worker.run(request);
}

void run_generate(const GenerateCommand& o) {
  throw_if_error(o.sampling.options.validate());  // before anything loads
  throw_if_error(check_stop_strings(o.sampling.stop_strings, "stop"));
  std::optional<Tokenizer> tok = load_tokenizer_if_present(o.model.model);
  JsonlReader reader = value_or_throw(JsonlReader::open(o.prompts));
  std::vector<PromptText> prompts;
  rapidjson::Document doc;
  while (value_or_throw(reader.next(doc))) prompts.push_back(read_prompt(doc, reader.where(), tok, o.template_name));
  if (prompts.empty()) throw Error(o.prompts + ": no prompts");
  RolloutRequest request{.step = 0, .policy_version = o.policy_version, .sampling = o.sampling, .prompts = {}};
  for (size_t i = 0; i < prompts.size(); ++i)
    request.prompts.push_back({.prompt_index = static_cast<int64_t>(i), .prompt_ids = prompts[i].ids});
  Result<RolloutResult> result = sample(o, tok, request);
  if (!result.ok()) throw Error(result.status().with_context(o.prompts));
  JsonlWriter writer = value_or_throw(JsonlWriter::open(o.output));
  for (const Sample& s : result->samples) throw_if_error(writer.write(sample_row(s, prompts[s.prompt_index].text)));
  throw_if_error(writer.commit());
  const RolloutResult& r = *result;
  if (!o.quiet)
    std::fprintf(stderr, "r1 generate: prefill %lld tok in %.3fs (%.1f tok/s), decode %lld tok in %.3fs (%.1f tok/s)\n",
                 static_cast<long long>(r.prefill_tokens), r.prefill_seconds,
                 r.prefill_tokens / std::max(r.prefill_seconds, 1e-9), static_cast<long long>(r.completion_tokens),
                 r.decode_seconds, r.completion_tokens / std::max(r.decode_seconds, 1e-9));
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto o = std::make_shared<GenerateCommand>();
  CLI::App* cmd = app.add_subcommand("generate", "Sample completions for JSONL prompts");
  add_model_options(cmd, o->model);
  RolloutSampling& s = o->sampling;
  cmd->add_option("--prompts", o->prompts, "JSONL rows with prompt_ids, prompt or messages")->required();
  cmd->add_option("--output", o->output, "JSONL output, - for stdout")->capture_default_str();
  cmd->add_option("--template", o->template_name, "none | auto | chatml | llama3 | r1_zero")
      ->check(CLI::IsMember({"none", "auto", "chatml", "llama3", "r1_zero"}))
      ->capture_default_str();
  cmd->add_option("--num-samples", s.num_generations, "Completions per prompt")->capture_default_str();
  cmd->add_option("--max-new-tokens", s.max_completion_length, "Tokens per completion at most")->capture_default_str();
  cmd->add_option("--temperature", s.options.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", s.options.top_k, "0 = off")->capture_default_str();
  cmd->add_option("--top-p", s.options.top_p, "1 = off")->capture_default_str();
  cmd->add_option("--min-p", s.options.min_p, "0 = off")->capture_default_str();
  cmd->add_option("--stop", s.stop_strings, "Stop string (repeatable); the completion text is cut before it");
  cmd->add_option("--stop-token-id", s.stop_token_ids, "Stop token id besides eos (repeatable)");
  cmd->add_option("--seed", s.seed, "Sampling seed")->capture_default_str();
  cmd->add_flag("--quiet", o->quiet, "No throughput line on stderr");
  CLI::Option* worker =
      cmd->add_option("--rollout-worker", o->rollout.workers,
                      "HOST:PORT of an `r1 rollout serve` to sample on (repeatable: prompts are split across the "
                      "workers, and a worker that fails hands its prompts to the others; --model then gives only "
                      "the tokenizer)");
  CLI::Option* key =
      cmd->add_option("--auth-key-file", o->rollout.auth_key_file, "The rollout worker's shared secret (a 0600 file)");
  worker->needs(key);
  key->needs(worker);
  cmd->add_option("--worker-timeout", o->rollout.timeout_s, "Seconds to wait for the rollout worker's answer")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->needs(worker);
  cmd->add_option("--heartbeat-timeout", o->rollout.heartbeat_timeout_s,
                  "Seconds a rollout worker may send no heartbeat while it samples before it is dropped")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->needs(worker);
  cmd->add_option("--policy-version", o->policy_version,
                  "The policy version the rollout worker must sample with (pushed by `r1 rollout push`)")
      ->capture_default_str()
      ->needs(worker);
  cmd->callback([o] { run_generate(*o); });
}

}  // namespace r1
