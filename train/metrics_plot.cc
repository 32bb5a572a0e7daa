#include "train/metrics_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

#include "util/json.h"
#include "util/utf8.h"

namespace r1 {

namespace {

constexpr int kPanelW = 360, kPanelH = 220, kColumns = 3, kMargin = 48;
const char* const kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"};

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// XML text from any bytes (a folder name need not be UTF-8).
std::string escape(const std::string& text) {
  std::string out;
  for (char c : utf8_lossy(text)) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

struct Range {
  double lo = INFINITY, hi = -INFINITY;
  void add(double v) { lo = std::min(lo, v), hi = std::max(hi, v); }
  double at(double v, double from, double to) const {  // v mapped onto [from, to]
    return hi > lo ? from + (v - lo) / (hi - lo) * (to - from) : (from + to) / 2;
  }
};

// One metric's panel at (x0, y0): a frame, axis labels, a polyline per run
// and per finite stretch.
std::string panel(const std::vector<RunCurves>& runs, const std::string& metric, int x0, int y0) {
  Range xs, ys;
  for (const RunCurves& r : runs)
    if (auto it = r.metrics.find(metric); it != r.metrics.end())
      for (auto [step, v] : it->second)
        if (std::isfinite(v)) xs.add(step), ys.add(v);
  const double left = x0 + kMargin, right = x0 + kPanelW - 12, top = y0 + 28, bottom = y0 + kPanelH - 28;
  std::string out = "<g class=\"panel\" data-metric=\"" + escape(metric) + "\">\n";
  out +=
      "<text x=\"" + num(left) + "\" y=\"" + num(y0 + 18) + "\" font-weight=\"bold\">" + escape(metric) + "</text>\n";
  out += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(right - left) + "\" height=\"" +
         num(bottom - top) + "\" fill=\"none\" stroke=\"#999\"/>\n";
  if (xs.lo <= xs.hi) {
    out +=
        "<text x=\"" + num(left - 4) + "\" y=\"" + num(top + 4) + "\" text-anchor=\"end\">" + num(ys.hi) + "</text>\n";
    out +=
        "<text x=\"" + num(left - 4) + "\" y=\"" + num(bottom) + "\" text-anchor=\"end\">" + num(ys.lo) + "</text>\n";
    out += "<text x=\"" + num(left) + "\" y=\"" + num(bottom + 14) + "\">" + num(xs.lo) + "</text>\n";
    out += "<text x=\"" + num(right) + "\" y=\"" + num(bottom + 14) + "\" text-anchor=\"end\">step " + num(xs.hi) +
           "</text>\n";
  }
  for (size_t r = 0; r < runs.size(); ++r) {
    auto it = runs[r].metrics.find(metric);
    if (it == runs[r].metrics.end()) continue;
    std::string points;
    auto flush = [&] {
      if (!points.empty())
        out += "<polyline data-run=\"" + std::to_string(r) + "\" fill=\"none\" stroke=\"" +
               kColours[r % std::size(kColours)] + "\" stroke-width=\"1.5\" points=\"" + points + "\"/>\n";
      points.clear();
    };
    for (auto [step, v] : it->second) {
      if (!std::isfinite(v)) {
        flush();
        continue;
      }
      points += (points.empty() ? "" : " ") + num(xs.at(step, left, right)) + "," + num(ys.at(v, bottom, top));
    }
    flush();
  }
  return out + "</g>\n";
}

}  // namespace

Result<RunCurves> read_run_curves(const std::string& run_dir) {
  RunCurves run{.name = run_dir};
  std::string path = run_dir + "/metrics.jsonl";
  std::ifstream in(path);
  if (!in) return Status::error(path + ": cannot be read (is " + run_dir + " a run folder?)");
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    std::string where = path + ":" + std::to_string(n);
    R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(line, where));
    if (!doc.IsObject() || !doc.HasMember("step") || !doc["step"].IsNumber())
      return Status::error(where + ": expected an object with a numeric 'step'");
    double step = doc["step"].GetDouble();
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it)
      if (it->value.IsNumber() && std::string_view(it->name.GetString()) != "step")
        run.metrics[it->name.GetString()].emplace_back(step, it->value.GetDouble());
  }
  return run;
}

Result<std::string> plot_curves_svg(const std::vector<RunCurves>& runs, const std::vector<std::string>& metrics) {
  std::vector<std::string> names = metrics;
  if (names.empty()) {
    std::set<std::string> all;
    for (const RunCurves& r : runs)
      for (const auto& [m, _] : r.metrics) all.insert(m);
    names.assign(all.begin(), all.end());
  }
  for (const std::string& m : names)
    if (std::none_of(runs.begin(), runs.end(), [&](const RunCurves& r) { return r.metrics.count(m) > 0; }))
      return Status::error("metric '" + m + "' is in no run's metrics.jsonl");
  if (names.empty()) return Status::error("no run logged any metric");
  const int rows = static_cast<int>((names.size() + kColumns - 1) / kColumns);
  const int legend = 20 * static_cast<int>(runs.size()) + 10;
  const int width = kColumns * kPanelW, height = rows * kPanelH + legend;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                    std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (size_t r = 0; r < runs.size(); ++r) {
    int y = 16 + 20 * static_cast<int>(r);
    svg += "<g class=\"legend\"><line x1=\"10\" y1=\"" + std::to_string(y - 4) + "\" x2=\"34\" y2=\"" +
           std::to_string(y - 4) + "\" stroke=\"" + kColours[r % std::size(kColours)] +
           "\" stroke-width=\"2\"/><text x=\"40\" y=\"" + std::to_string(y) + "\">" + escape(runs[r].name) +
           "</text></g>\n";
  }
  for (size_t i = 0; i < names.size(); ++i)
    svg += panel(runs, names[i], static_cast<int>(i % kColumns) * kPanelW,
                 legend + static_cast<int>(i / kColumns) * kPanelH);
  return svg + "</svg>\n";
}

}  // namespace r1
