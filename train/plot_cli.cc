#include "train/plot_cli.h"

#include <cstdio>
#include <memory>

#include "train/metrics_plot.h"
#include "train/svg_png.h"
#include "util/file.h"

namespace r1 {

namespace {

struct PlotCommand {
  std::vector<std::string> runs;
  std::string out;
  std::vector<std::string> metrics;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void run_plot(const PlotCommand& o) {
  bool png = ends_with(o.out, ".png");
  if (!png && !ends_with(o.out, ".svg")) throw Error("--out '" + o.out + "': expected a .svg or .png file");
  std::vector<RunCurves> runs;
  for (const std::string& dir : o.runs) runs.push_back(value_or_throw(read_run_curves(dir)));
  std::string svg = value_or_throw(plot_curves_svg(runs, o.metrics));
  throw_if_error(write_file_atomic(o.out, png ? value_or_throw(svg_to_png(svg)) : svg));
  std::fprintf(stderr, "r1 plot: %zu runs -> %s\n", runs.size(), o.out.c_str());
}

}  // namespace

void add_plot_command(CLI::App& app) {
  auto o = std::make_shared<PlotCommand>();
  CLI::App* cmd = app.add_subcommand("plot", "Draw runs' metrics.jsonl curves against step into an SVG or PNG file");
  cmd->add_option("runs", o->runs, "Run folders (each with metrics.jsonl); several are overlaid")->required();
  cmd->add_option("--out", o->out, "The .svg or .png file to write (atomically)")->required();
  cmd->add_option("--metrics", o->metrics, "Only these metrics (repeatable; default: every one logged)");
  cmd->callback([o] { run_plot(*o); });
}

}  // namespace r1
