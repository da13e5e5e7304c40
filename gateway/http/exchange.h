#pragma once

// One request/response exchange, as the HTTP front hands it to the request handler. The front
// (HTTP/1.1 today) owns the connection; the handler sees only this interface, so the same
// pipeline can later serve other transports.

#include <memory>
#include <string_view>

#include "boost/asio/io_context.hpp"
#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"
#include "gateway/http/fields.h"

namespace sluice::http {

using Request = boost::beast::http::message<true, boost::beast::http::string_body, Fields>;
using Response = boost::beast::http::message<false, boost::beast::http::string_body, Fields>;

class Exchange {
 public:
  virtual ~Exchange() = default;

  virtual const Request& request() const = 0;
  // The handler may move the body out (to forward it) before responding.
  virtual Request& mutable_request() = 0;
  virtual std::string_view client_ip() const = 0;
  // Index of the worker thread running this exchange, in [0, worker count). Per-worker state
  // (backend connection pools) is indexed by it, so the hot path needs no lock.
  virtual int worker_index() const = 0;
  virtual boost::asio::io_context& io_context() = 0;

  // Sends the response. Call exactly once, on this exchange's worker thread. For HEAD requests
  // the front sends the headers of `response` (with its Content-Length) and no body.
  virtual void Respond(Response&& response) = 0;
};

using ExchangePtr = std::shared_ptr<Exchange>;

// The request handler: routing and the endpoint pipelines sit behind it.
class Handler {
 public:
  virtual ~Handler() = default;
  // Runs on the exchange's worker thread. Must eventually call exchange->Respond() exactly once
  // (keeping `exchange` alive until then); must not block.
  virtual void Handle(ExchangePtr exchange) = 0;
};

}  // namespace sluice::http
