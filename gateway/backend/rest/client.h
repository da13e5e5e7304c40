#pragma once

// Asynchronous HTTP/1.1 client for REST backends. One Client per worker thread: its keep-alive
// pools are touched only from that worker's io_context, so no call takes a lock.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ssl/context.hpp"
#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"
#include "gateway/backend/error.h"
#include "gateway/common/stable_slots.h"
#include "gateway/config/config.h"
#include "gateway/http/deadlines.h"
#include "gateway/http/exchange.h"
#include "nlohmann/json.hpp"

namespace sluice::backend::rest {

using Request = http::Request;
using Response = http::Response;
using Deadline = std::chrono::steady_clock::time_point;

// The outcome of one backend call, whatever the transport.
struct CallResult {
  bool ok() const { return error.kind == ErrorKind::kNone; }
  Error error;
  Response response;
  // Set by backends whose answer is already structured (gRPC): the decoded object, used instead
  // of decoding `response.body` with the backend's encoding.
  std::optional<nlohmann::json> data;
  // The URL that gave the answer (the last one, after redirects); only when the status is not
  // 200 or 201, for the error text that names it (Lura's ErrInvalidStatus).
  std::string url;
};

using Callback = absl::AnyInvocable<void(CallResult&&)>;

// Decompresses a gzip body into `out`, at most `limit` bytes (a gzip bomb is a backend error,
// not an out-of-memory). Returns the error, or "" on success.
std::string Gunzip(const std::string& in, uint64_t limit, std::string* out);

struct ClientOptions {
  // Idle keep-alive connections kept per backend host and worker (KrakenD's
  // max_idle_connections_per_host default is 250).
  size_t max_idle_per_host = 250;
  // An idle connection older than this is closed instead of reused: backends commonly drop idle
  // connections after 60-120 s, and reusing a dead one costs a retry.
  std::chrono::seconds idle_connection_timeout{60};
  // Largest backend answer body held in memory: a declared Content-Length above it fails the
  // call before any body byte is read, a longer body (chunked, or until close) fails it as soon as
  // the bytes read pass it. Both are kBadResponse (the client gets 500) and close the connection.
  uint64_t max_response_bytes = 64 * 1024 * 1024;
  // Redirects followed in one call (Go's http.Client stops after 10); one more is kBadResponse.
  int max_redirects = 10;
  // For https:// hosts (built from `client_tls` by http::CreateClientContext). Null: https
  // calls fail.
  std::shared_ptr<boost::asio::ssl::context> tls;
};

class Client {
 public:
  Client(boost::asio::io_context& ioc, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Registers a backend host; returns its slot for Send(). Registering the same scheme, host and
  // port twice returns the same slot. Called at start-up, and by a reload on the main thread
  // while this client's worker sends to the slots it has: they never move. Slots are never
  // freed (a pool outlives the configurations that name its host), so a process refuses more
  // than kMaxHosts distinct hosts (ResourceExhausted): far more than any configuration names,
  // few enough that the table is 2 KiB.
  absl::StatusOr<int> RegisterHost(const config::HostAddress& host);
  static constexpr int kHostChunk = 64;
  static constexpr int kMaxHosts = kHostChunk * 256;

  // Sends `request` to the host in `slot`, following redirects, with the whole exchange bounded
  // by `deadline` (when it passes, the worker's deadline sweep closes the call's connection,
  // whatever the reads are doing; at most http::Deadlines::kResolution late). Sets the Host header.
  // `done` runs exactly once, later, on this client's io_context. A reused keep-alive connection
  // that turns out closed is retried once on a fresh one. Informational answers (1xx but 101) are
  // skipped; HEAD, 204 and 304 answers have no body. A connection goes back to the pool only when
  // its answer was framed exactly: keep-alive, no byte left over after it, no 1xx before it, no 204
  // declaring a body.
  void Send(int slot, Request&& request, Deadline deadline, Callback done);

  // Idle connections currently pooled (all hosts), for tests: it reads the worker's pools, so
  // only while the worker does not run.
  size_t idle_connections() const;

  struct HostPool;
  class Call;

 private:
  friend class Call;
  boost::asio::io_context& ioc_;
  http::Deadlines& deadlines_;  // of ioc_: one sweep for every call's deadline
  ClientOptions options_;
  StableSlots<std::unique_ptr<HostPool>, kHostChunk, kMaxHosts / kHostChunk> hosts_;
  // The registering thread's: each slot made, by "scheme://host:port".
  absl::flat_hash_map<std::string, int> host_slots_;
};

}  // namespace sluice::backend::rest
