#include "inspect/inspect_api.h"

#include <functional>
#include <map>

#include "inspect/inspect_views.h"
#include "inspect/request_target.h"
#include "util/json.h"

namespace r1 {

namespace {

std::string escape_html(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

HttpReply json_error(unsigned status, const std::string& message) {
  JsonWriter w;
  w.begin_object().key("error").value(message).end_object();
  return {status, "application/json", w.str()};
}

HttpReply html_error(unsigned status, const std::string& message) {
  return {status, "text/html; charset=utf-8",
          "<!doctype html><meta charset=\"utf-8\"><title>r1 inspect: error " + std::to_string(status) +
              "</title><h1>r1 inspect: error " + std::to_string(status) + "</h1><p class=\"error\">" +
              escape_html(message) + "</p><p><a href=\"/\">back to the runs</a></p>"};
}

HttpReply json_reply(const Result<std::string>& body) {
  if (!body.ok()) return json_error(500, body.status().message());
  return {200, "application/json", *body};
}

// Each run endpoint: the parameters it takes, those that must be integers,
// those it needs, and what answers it (`index` is the step or prompt index
// of the path).
struct RunEndpoint {
  std::vector<std::string> params;
  std::vector<std::string> ints;
  std::vector<std::string> required;
  std::function<Result<std::string>(const InspectSource&, int64_t index, const RequestTarget&)> view;
};

const std::map<std::string, RunEndpoint>& run_endpoints() {
  static const std::map<std::string, RunEndpoint> endpoints = {
      {"metrics", {{}, {}, {}, [](const InspectSource& s, int64_t, const RequestTarget&) { return metrics_json(s); }}},
      {"steps", {{}, {}, {}, [](const InspectSource& s, int64_t, const RequestTarget&) { return steps_json(s); }}},
      {"steps/N", {{"sort", "order", "finish", "discarded", "q", "component"}, {}, {}, step_json}},
      {"prompts/N", {{"a", "b", "component"}, {"a", "b"}, {}, prompt_json}},
      {"discarded",
       {{"reason", "step", "limit", "offset"},
        {"step", "limit", "offset"},
        {},
        [](const InspectSource& s, int64_t, const RequestTarget& t) { return discarded_json(s, t); }}},
      {"search",
       {{"q", "limit"},
        {"limit"},
        {"q"},
        [](const InspectSource& s, int64_t, const RequestTarget& t) { return search_json(s, t); }}},
  };
  return endpoints;
}

Status check_params(const RunEndpoint& e, const RequestTarget& t) {
  R1_RETURN_IF_ERROR(allow_only(t, e.params));
  for (const std::string& name : e.ints) R1_RETURN_IF_ERROR(int_param(t, name).status());
  for (const std::string& name : e.required)
    if (!text_param(t, name)) return Status::error("parameter '" + name + "' is required");
  return Status();
}

}  // namespace

HttpReply InspectApi::get(const std::string& target) const {
  Result<RequestTarget> t = parse_request_target(target);
  bool is_api = target.rfind("/api/", 0) == 0 || target == "/api";
  if (!t.ok()) return is_api ? json_error(403, t.status().message()) : html_error(403, t.status().message());
  if (is_api) return api(*t);
  if (t->segments.empty() || (t->segments.size() == 1 && t->segments[0] == "index.html"))
    return {200, "text/html; charset=utf-8", kInspectPage};
  return html_error(404, "no page at '" + target + "': the inspector is at /, its API under /api/");
}

HttpReply InspectApi::api(const RequestTarget& t) const {
  const std::vector<std::string>& seg = t.segments;
  if (seg.size() < 2 || seg[1] != "runs") return json_error(404, "unknown API path; see docs/inspector.md");
  if (seg.size() == 2) {
    Status status = allow_only(t, {});
    return status.ok() ? HttpReply{200, "application/json", runs_json(sources_)} : json_error(400, status.message());
  }
  Result<int64_t> id = index_segment(seg[2], "run id");
  if (!id.ok()) return json_error(400, id.status().message());
  if (*id >= static_cast<int64_t>(sources_.size()))
    return json_error(404, "no run " + seg[2] + ": this server has runs 0.." + std::to_string(sources_.size() - 1));
  return run_api(sources_[static_cast<size_t>(*id)], t);
}

HttpReply InspectApi::run_api(const InspectSource& source, const RequestTarget& t) const {
  const std::vector<std::string>& seg = t.segments;
  if (seg.size() < 4 || seg.size() > 5) return json_error(404, "unknown API path; see docs/inspector.md");
  std::string name = seg.size() == 5 ? seg[3] + "/N" : seg[3];
  auto it = run_endpoints().find(name);
  if (it == run_endpoints().end()) return json_error(404, "unknown API path; see docs/inspector.md");
  int64_t index = 0;
  if (seg.size() == 5) {
    Result<int64_t> n = index_segment(seg[4], seg[3] == "steps" ? "step" : "prompt index");
    if (!n.ok()) return json_error(400, n.status().message());
    index = *n;
  }
  Status params = check_params(it->second, t);
  if (!params.ok()) return json_error(400, params.message());
  return json_reply(it->second.view(source, index, t));
}

}  // namespace r1
