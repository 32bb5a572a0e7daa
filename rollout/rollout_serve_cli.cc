#include "rollout/rollout_serve_cli.h"

#include <cstdio>
#include <memory>

#include "model/cli_inputs.h"
#include "rollout/rollout_server.h"
#include "rollout/wire_auth.h"

namespace r1 {

namespace {

struct ServeCommand {
  ModelOptions model;
  RolloutServerOptions server;
  std::string key_file;
  double max_request_mib = 64;
};

void run_serve(ServeCommand& o) {
  // The key and the socket first: a bad key file or a taken port fails
  // before minutes of model loading.
  o.server.key = value_or_throw(read_auth_key_file(o.key_file));
  o.server.max_request_bytes = static_cast<uint32_t>(o.max_request_mib * (1 << 20));
  std::unique_ptr<RolloutServer> server = value_or_throw(RolloutServer::bind(o.server));
  Transformer model = load_model(o.model);
  std::optional<Tokenizer> tok = load_tokenizer_if_present(o.model.model);
  LocalRolloutWorker worker(model, tok ? &*tok : nullptr);
  // The one line on stdout: where learners reach this worker (the real port
  // when --listen asked for port 0).
  std::printf("listening on %s\n", server->address().c_str());
  std::fflush(stdout);
  server->run(worker);
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
  serve->add_option("--max-request-mib", o->max_request_mib, "Largest request frame, MiB")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 4095.0));
  serve->add_option("--max-connections", s.max_connections, "Connections open at once; more are closed")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->callback([o] { run_serve(*o); });
}

}  // namespace r1
