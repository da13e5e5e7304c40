#pragma once

// TLS for both sides of the gateway, on OpenSSL (the public listener's connections through
// http/tls_stream.h, https:// backends through Boost.Asio's SSL stream): the public
// listener's certificates (KrakenD's `tls`: several chosen by SNI, versions, ciphers, curves,
// mTLS) with reload on SIGHUP or when a file changes, and the client context for https://
// backends (`client_tls`). Every error names the config key and the file at fault.

#include <openssl/ssl.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/ssl/context.hpp"
#include "boost/asio/ssl/stream.hpp"
#include "gateway/config/config.h"

namespace sluice::http {

// A PEM file's bytes (at most 4 MiB), or why not ("cannot read \"f\": No such file...").
absl::StatusOr<std::string> ReadPemFile(const std::string& file);

// The listener's TLS, built from one reading of its files. Immutable: a reload builds another.
class ServerTls {
 public:
  static absl::StatusOr<std::shared_ptr<ServerTls>> Create(const config::ListenerTls& config);
  ~ServerTls();

  boost::asio::ssl::context& context() { return context_; }
  // "serial 1A2B expiring 2027-01-01" for each certificate, for the log.
  const std::string& summary() const { return summary_; }

  struct Certificate;

 private:
  ServerTls();
  boost::asio::ssl::context context_;
  std::vector<std::unique_ptr<Certificate>> certificates_;  // keys[] order; [0] is the default
  std::string summary_;
};

// The live ServerTls of a listener. New connections take current(); connections already open
// keep the context they started with.
class ServerTlsStore {
 public:
  ServerTlsStore(config::ListenerTls config, std::shared_ptr<ServerTls> first);

  std::shared_ptr<ServerTls> current() const { return std::atomic_load(&current_); }

  // Reads the files again and swaps in the result when they changed since the last reading
  // (always with `force`: SIGHUP). A file that fails keeps the current certificates; the error
  // is returned (and not again for the same files). OK when nothing changed or the swap happened.
  enum class Outcome { kUnchanged, kReloaded, kFailed };
  Outcome Reload(bool force, std::string* message);

 private:
  // What the files look like now (inode, size, mtime of each, following symlinks).
  std::string Fingerprint() const;

  const config::ListenerTls config_;
  std::shared_ptr<ServerTls> current_;
  absl::Mutex mu_;  // one reload at a time (SIGHUP and the file watch)
  std::string loaded_fingerprint_;
  std::string failed_fingerprint_;
};

// Where a client connection's resumable TLS session lands: the client context's new-session
// callback (TLS 1.3 sends its tickets after the handshake) fills the slot attached with
// AttachSessionSlot. The slot must outlive the connection's SSL object.
struct TlsSessionSlot {
  TlsSessionSlot() = default;
  TlsSessionSlot(const TlsSessionSlot&) = delete;
  TlsSessionSlot& operator=(const TlsSessionSlot&) = delete;
  ~TlsSessionSlot() { SSL_SESSION_free(session); }
  SSL_SESSION* Take() { return std::exchange(session, nullptr); }
  SSL_SESSION* session = nullptr;
};

void AttachSessionSlot(SSL* ssl, TlsSessionSlot* slot);

// The context for https:// backends, from `client_tls` (Go's defaults when absent).
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> CreateClientContext(
    const config::ClientTls& config);

// Prepares one client connection: SNI (for names) and the name or IP its certificate must carry.
absl::Status PrepareClientConnection(SSL* ssl, const std::string& host);

// Why a handshake failed, in words: the certificate verification result when that was it
// ("certificate has expired", "hostname mismatch"), else OpenSSL's message.
std::string HandshakeError(SSL* ssl, const boost::system::error_code& ec);

// A client connection's bytes: plain, or TLS over the plain stream. Beast's algorithms and
// asio::async_write take it like any stream; each operation costs one branch.
template <class Plain, class Tls>
class MaybeTls {
 public:
  using executor_type = typename Plain::executor_type;

  explicit MaybeTls(Plain&& plain) : plain_(std::move(plain)) {}
  // Plain, built in place from `args`.
  template <class... Args>
  explicit MaybeTls(std::in_place_t, Args&&... args) : plain_(std::forward<Args>(args)...) {}
  // `keep`: what the TLS session's callbacks point into (the ServerTls), kept alive with it.
  MaybeTls(std::unique_ptr<Tls> tls, std::shared_ptr<const void> keep)
      : plain_(tls->get_executor()), tls_(std::move(tls)), keep_(std::move(keep)) {}

  executor_type get_executor() { return plain_.get_executor(); }
  Plain& plain() { return plain_; }
  Tls* tls() { return tls_.get(); }
  std::pair<std::unique_ptr<Tls>, std::shared_ptr<const void>> ReleaseTls() {
    return {std::move(tls_), std::move(keep_)};
  }

  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<Handler>(handler));
    } else {
      plain_.async_read_some(buffers, std::forward<Handler>(handler));
    }
  }
  template <class Buffers, class Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_write_some(buffers, std::forward<Handler>(handler));
    } else {
      plain_.async_write_some(buffers, std::forward<Handler>(handler));
    }
  }

 private:
  Plain plain_;  // unopened when TLS is on: the TLS stream holds the connection
  std::unique_ptr<Tls> tls_;
  std::shared_ptr<const void> keep_;
};

}  // namespace sluice::http
