#pragma once

// A unary gRPC client of Sluice's own: HTTP/2 (nghttp2) over TCP or TLS on one worker's event
// loop. gRPC C++ runs calls on its own threads (a completion thread reads and parses, the worker
// hands the call over and is handed the answer back); here the worker that serves the request
// writes its frames and reads its answer, so a call takes no lock and no thread hand-off.
//
// One client per worker and one HTTP/2 connection per backend host, opened on the first call and
// shared by every call of that worker to that host. A host that cannot be reached fails calls at
// once (UNAVAILABLE) and is tried again after a backoff of 250 ms doubling to 1 s (as the gRPC C++
// channels were configured). Streams the backend refuses unprocessed (REFUSED_STREAM, or above a
// GOAWAY's last stream) are sent again on a new connection (up to 5 times). Over TLS the backend
// must agree to HTTP/2 by ALPN, and its certificate is verified as the TLS context says
// (gateway/backend/grpc/channels.cc: the host's name or IP, unless allow_insecure_connections).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ssl/context.hpp"
#include "gateway/config/config.h"

namespace sluice::backend::grpc {

// How a call ended: a gRPC status, and for OK the reply message's bytes (without the 5-byte
// gRPC frame prefix).
struct UnaryReply {
  UnaryReply() = default;
  UnaryReply(int code, std::string message, std::string payload = {})
      : code(code), message(std::move(message)), payload(std::move(payload)) {}

  int code = 0;
  std::string message;  // grpc-message, percent-decoded, or what went wrong
  std::string payload;
};

using Metadata = std::vector<std::pair<std::string, std::string>>;
using ReplyCallback = absl::AnyInvocable<void(UnaryReply&&)>;

// The largest reply accepted (gRPC's default receive limit): a longer one is RESOURCE_EXHAUSTED.
constexpr size_t kMaxReplyBytes = 4 * 1024 * 1024;

// A gRPC length-prefixed message: the 5-byte prefix (not compressed, big-endian length) followed
// by `size` bytes that `write` fills in.
template <typename Write>
std::string FramedMessage(size_t size, Write&& write) {
  std::string framed(5 + size, '\0');
  framed[1] = static_cast<char>(size >> 24);
  framed[2] = static_cast<char>(size >> 16);
  framed[3] = static_cast<char>(size >> 8);
  framed[4] = static_cast<char>(size);
  write(framed.data() + 5);
  return framed;
}

class H2Client {
 public:
  // `keep` is held until the client is gone: what the callbacks read (the schema catalog).
  H2Client(boost::asio::io_context& ioc, std::shared_ptr<const void> keep);
  ~H2Client();
  H2Client(const H2Client&) = delete;
  H2Client& operator=(const H2Client&) = delete;

  // Registers a backend host at start-up, over TLS with `tls` (null: plaintext); returns its slot
  // for Call(). Hosts are registered in the same order in every worker's client, so a slot
  // number serves them all.
  int RegisterHost(const config::HostAddress& host,
                   std::shared_ptr<boost::asio::ssl::context> tls = nullptr);

  // Calls `path` ("/package.Service/Method", which must outlive the call) on the host in `slot`
  // with `framed` (FramedMessage) and `metadata` (valid lower-case keys; the values of `-bin`
  // keys are sent base64-encoded, as gRPC C++ does).
  // The call ends by `deadline` (DEADLINE_EXCEEDED after it; the backend is told with
  // grpc-timeout, the time left when its stream starts, and the stream reset). Calls over the
  // backend's SETTINGS_MAX_CONCURRENT_STREAMS wait, in order, for a stream to close. `done` runs
  // exactly once, later, on this client's loop, unless the loop is destroyed first.
  void Call(int slot, std::string_view path, Metadata metadata, std::string framed,
            std::chrono::steady_clock::time_point deadline, ReplyCallback done);

  // Ends every call in flight with CANCELLED and closes the connections; calls made afterwards
  // fail the same way. Runs on the client's loop.
  void Close();

  struct Host;
  struct CallState;
  class Connection;

 private:
  friend class Connection;
  // Sends `call` on its host's connection, opening one if there is none.
  void Dispatch(CallState* call);
  // The deadline of `call` passed.
  void Expire(CallState* call);
  // Answers `call` (its `done` runs here, once); Forget drops it from the live set (it is then
  // destroyed). A call on a stream is forgotten when the stream closes.
  void Finish(CallState* call, UnaryReply reply);
  void Forget(CallState* call);
  // Runs `done` later on the loop: calls that fail before they start.
  void FailSoon(ReplyCallback done, int code, std::string message);

  boost::asio::io_context& ioc_;
  std::shared_ptr<const void> keep_;
  std::vector<std::unique_ptr<Host>> hosts_;
  // Every call in flight, owned here; the deadline timers watch them through weak pointers.
  absl::flat_hash_map<CallState*, std::shared_ptr<CallState>> live_;
  bool closed_ = false;
};

}  // namespace sluice::backend::grpc
