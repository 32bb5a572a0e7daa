#include "rollout/wire_endpoint.h"

namespace r1 {

std::string HostPort::str() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

Result<HostPort> parse_host_port(const std::string& text, const std::string& what) {
  Status bad = Status::error(what + ": '" + text + "' must be HOST:PORT (e.g. 127.0.0.1:5555 or [::1]:5555)");
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return bad;
  HostPort out;
  out.host = text.substr(0, colon);
  if (out.host.front() == '[') {
    if (out.host.size() < 3 || out.host.back() != ']') return bad;
    out.host = out.host.substr(1, out.host.size() - 2);
  } else if (out.host.find(':') != std::string::npos) {
    return bad;  // an IPv6 address needs brackets
  }
  std::string port = text.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return bad;
  int value = std::stoi(port);
  if (value > 65535) return Status::error(what + ": port " + port + " is out of range (0-65535)");
  out.port = static_cast<uint16_t>(value);
  return out;
}

}  // namespace r1
