#include "rollout/rollout_serve_cli.h"

#include <cstdio>
#include <memory>

#include "model/cli_inputs.h"
#include "rollout/remote_rollout_worker.h"
#include "rollout/rollout_server.h"
#include "rollout/wire_auth.h"

namespace r1 {

namespace {

struct ServeCommand {
  ModelOptions model;
  RolloutServerOptions server;
  std::string key_file;
  double max_request_mib = 64;
  double max_bucket_mib = 1024;
};

struct PushCommand {
  ModelOptions model;
  RemoteWorkerOptions worker;
  std::string key_file;
  int64_t policy_version = 1;
  double bucket_mib = 256;
};

void run_serve(ServeCommand& o) {
  // The key and the socket first: a bad key file or a taken port fails
  // before minutes of model loading.
  o.server.key = value_or_throw(read_auth_key_file(o.key_file));
  o.server.max_request_bytes = static_cast<uint32_t>(o.max_request_mib * (1 << 20));
  o.server.max_bucket_bytes = static_cast<uint32_t>(o.max_bucket_mib * (1 << 20));
  std::unique_ptr<RolloutServer> server = value_or_throw(RolloutServer::bind(o.server));
  Transformer model = load_model(o.model);
  std::optional<Tokenizer> tok = load_tokenizer_if_present(o.model.model);
  const Tokenizer* tokenizer = tok ? &*tok : nullptr;
  // The one line on stdout: where learners reach this worker (the real port
  // when --listen asked for port 0).
  std::printf("listening on %s\n", server->address().c_str());
  std::fflush(stdout);
  throw_if_error(server->run(std::move(model), [tokenizer](const Transformer& policy) {
    return std::make_unique<LocalRolloutWorker>(policy, tokenizer);
  }));
}

void run_push(PushCommand& o) {
  o.worker.key = value_or_throw(read_auth_key_file(o.key_file));
  o.worker.push.bucket_bytes = static_cast<int64_t>(o.bucket_mib * (1 << 20));
  Transformer model = load_model(o.model);
  RemoteRolloutWorker worker(o.worker);
  WeightPushStats s = value_or_throw(worker.push_weights(model, o.policy_version));
  // One line a script can read: what went, and how fast.
  std::printf(
      "pushed version %lld to %s: %s, %lld of %lld tensors, %lld of %lld bytes in %lld buckets; digests %.3f s, "
      "transfer %.3f s (%.3f GB/s)\n",
      static_cast<long long>(o.policy_version), o.worker.address.c_str(), s.delta ? "delta" : "full",
      static_cast<long long>(s.tensors_sent), static_cast<long long>(s.tensors_total),
      static_cast<long long>(s.bytes_sent), static_cast<long long>(s.bytes_total), static_cast<long long>(s.buckets),
      s.digest_seconds, s.transfer_seconds, s.transfer_seconds > 0 ? s.bytes_sent / s.transfer_seconds / 1e9 : 0.0);
}

void add_push_command(CLI::App* rollout) {
  auto o = std::make_shared<PushCommand>();
  CLI::App* push = rollout->add_subcommand("push", "Push a policy to a rollout worker as a new policy version");
  add_model_options(push, o->model);
  push->add_option("--rollout-worker", o->worker.address, "HOST:PORT of the rollout worker")->required();
  push->add_option("--auth-key-file", o->key_file, "The rollout worker's shared secret (a 0600 file)")->required();
  push->add_option("--policy-version", o->policy_version, "The version the worker serves these weights as")
      ->capture_default_str();
  push->add_option("--bucket-mib", o->bucket_mib, "Payload of one bucket, MiB")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 4095.0));
  push->add_option("--worker-timeout", o->worker.push.timeout_s, "Seconds the worker has for each step of the push")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  push->callback([o] { run_push(*o); });
}

}  // namespace

void add_rollout_commands(CLI::App& app) {
  CLI::App* rollout = app.add_subcommand("rollout", "Rollout workers in their own processes");
  rollout->require_subcommand(1);
  auto o = std::make_shared<ServeCommand>();
  CLI::App* serve = rollout->add_subcommand("serve", "Serve rollout requests from authenticated learners over TCP");
  add_model_options(serve, o->model);
  RolloutServerOptions& s = o->server;
  serve->add_option("--listen", s.listen, "HOST:PORT to bind (only that address); port 0 picks a free port")
      ->required();
  serve->add_option("--auth-key-file", o->key_file, "File with the shared secret, readable by its owner only (0600)")
      ->required();
  serve->add_option("--policy-version", s.policy_version, "Policy version of the loaded weights")
      ->capture_default_str();
  serve->add_option("--handshake-timeout", s.handshake_timeout_s, "Seconds a client has to authenticate")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--read-timeout", s.read_timeout_s, "Seconds to wait for a request, or to write a result")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--heartbeat-interval", s.heartbeat_interval_s,
                    "Seconds between heartbeat frames while a request is sampled (learners drop a worker that "
                    "sends none within their rollout_heartbeat_timeout)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--max-request-mib", o->max_request_mib, "Largest request frame, MiB")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 4095.0));
  serve->add_option("--max-bucket-mib", o->max_bucket_mib, "Largest weights bucket a learner may push, MiB")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 4095.0));
  serve->add_option("--max-connections", s.max_connections, "Connections open at once; more are closed")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->callback([o] { run_serve(*o); });
  add_push_command(rollout);
}

}  // namespace r1
