#include "inspect/inspect_cli.h"

#include <cstdio>
#include <memory>

#include "inspect/http_server.h"
#include "inspect/inspect_api.h"
#include "inspect/inspect_sources.h"

namespace r1 {

namespace {

struct InspectCommand {
  std::vector<std::string> paths;
  std::string listen = "127.0.0.1:8765";
};

// "8765" alone means loopback: the inspector is never exposed by accident.
std::string listen_address(const std::string& listen) {
  return listen.find(':') == std::string::npos ? "127.0.0.1:" + listen : listen;
}

void run_inspect(const InspectCommand& o) {
  std::vector<InspectSource> sources = value_or_throw(resolve_inspect_sources(o.paths));
  auto api = std::make_shared<InspectApi>(sources);
  HttpServerOptions options;
  options.listen = listen_address(o.listen);
  auto server =
      value_or_throw(HttpServer::bind(options, [api](const std::string& target) { return api->get(target); }));
  for (size_t i = 0; i < sources.size(); ++i)
    std::fprintf(stderr, "r1 inspect: run %zu: %s (%s)\n", i, sources[i].name.c_str(), sources[i].kind.c_str());
  std::printf("listening on http://%s/\n", server->address().c_str());  // tests read the port from this line
  std::fflush(stdout);
  server->run();
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto o = std::make_shared<InspectCommand>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "Browse runs' rollouts, metrics and eval databases in a web page (read-only; updates while a run trains)");
  cmd->add_option("paths", o->paths, "Run folders (rollouts.db, metrics.jsonl, eval.db) or rollouts.db / eval.db files")
      ->required();
  cmd->add_option("--listen", o->listen, "HOST:PORT to serve on, or PORT for 127.0.0.1 (default 127.0.0.1:8765)");
  cmd->callback([o] { run_inspect(*o); });
}

}  // namespace r1
