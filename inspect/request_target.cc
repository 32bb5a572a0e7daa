#include "inspect/request_target.h"

#include <charconv>

namespace r1 {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "%2e%2E" -> "..", and '+' -> ' ' in a query.
Result<std::string> percent_decode(const std::string& s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1, lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
      if (lo < 0) return Status::error("bad percent escape in '" + s + "'");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += plus_is_space && s[i] == '+' ? ' ' : s[i];
    }
  }
  if (out.find('\0') != std::string::npos) return Status::error("NUL in the request");
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t at; (at = s.find(sep, start)) != std::string::npos; start = at + 1)
    parts.push_back(s.substr(start, at - start));
  parts.push_back(s.substr(start));
  return parts;
}

}  // namespace

Result<RequestTarget> parse_request_target(const std::string& target) {
  if (target.empty() || target[0] != '/') return Status::error("the request path must start with '/'");
  size_t q = target.find('?');
  std::string path = target.substr(1, q == std::string::npos ? std::string::npos : q - 1);
  RequestTarget out;
  if (!path.empty()) {
    for (const std::string& raw : split(path, '/')) {
      R1_ASSIGN_OR_RETURN(std::string seg, percent_decode(raw, false));
      if (seg.empty() || seg == "." || seg == ".." || seg.find('/') != std::string::npos ||
          seg.find('\\') != std::string::npos)
        return Status::error("path segment '" + raw + "' refused: only the runs given to r1 inspect are served");
      out.segments.push_back(std::move(seg));
    }
  }
  if (q == std::string::npos) return out;
  for (const std::string& pair : split(target.substr(q + 1), '&')) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    R1_ASSIGN_OR_RETURN(std::string key, percent_decode(pair.substr(0, eq), true));
    R1_ASSIGN_OR_RETURN(std::string value, percent_decode(eq == std::string::npos ? "" : pair.substr(eq + 1), true));
    out.query[key] = std::move(value);
  }
  return out;
}

Status allow_only(const RequestTarget& t, const std::vector<std::string>& allowed) {
  for (const auto& [key, value] : t.query) {
    bool known = false;
    for (const std::string& a : allowed) known = known || a == key;
    if (known) continue;
    std::string list;
    for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
    return Status::error("unknown parameter '" + key + "' (this endpoint takes: " + (list.empty() ? "none" : list) +
                         ")");
  }
  return Status();
}

std::optional<std::string> text_param(const RequestTarget& t, const std::string& name) {
  auto it = t.query.find(name);
  if (it == t.query.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

Result<std::optional<int64_t>> int_param(const RequestTarget& t, const std::string& name) {
  std::optional<std::string> text = text_param(t, name);
  if (!text) return std::optional<int64_t>();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size())
    return Status::error("parameter '" + name + "' must be an integer, got '" + *text + "'");
  return std::optional<int64_t>(v);
}

Result<int64_t> index_segment(const std::string& segment, const std::string& what) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(segment.data(), segment.data() + segment.size(), v);
  if (ec != std::errc() || end != segment.data() + segment.size() || v < 0)
    return Status::error(what + " must be a non-negative integer, got '" + segment + "'");
  return v;
}

}  // namespace r1
