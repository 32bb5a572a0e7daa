#include "rollout/wire_listener.h"

#include <boost/asio.hpp>

#include "rollout/wire_endpoint.h"

namespace r1 {

namespace asio = boost::asio;
using asio::ip::tcp;

std::string endpoint_text(const tcp::endpoint& e) {
  return HostPort{.host = e.address().to_string(), .port = e.port()}.str();
}

Status listen_on(tcp::acceptor& acceptor, const std::string& listen) {
  std::string where = "--listen " + listen;
  R1_ASSIGN_OR_RETURN(HostPort hp, parse_host_port(listen, "--listen"));
  boost::system::error_code ec;
  tcp::resolver resolver(acceptor.get_executor());
  auto endpoints = resolver.resolve(hp.host, std::to_string(hp.port), tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) return Status::error(where + ": cannot resolve '" + hp.host + "': " + ec.message());
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::error(where + ": cannot listen on " + endpoint_text(endpoint) + ": " + ec.message());
  return Status();
}

}  // namespace r1
