// The listening socket of a server on a HOST:PORT (`r1 rollout serve`,
// `r1 inspect`): bound to that address only, never to every interface.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <string>

#include "util/status.h"

namespace r1 {

// "127.0.0.1:5555", "[::1]:5555": an endpoint as HOST:PORT.
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& e);

// Resolves `listen` (HOST:PORT, port 0 picks a free one) and makes
// `acceptor` listen there. Errors start with "--listen <listen>: ".
Status listen_on(boost::asio::ip::tcp::acceptor& acceptor, const std::string& listen);

}  // namespace r1
