#pragma once

// Where auth/validator's keys come from at run time: a JWK Set fetched over HTTP from the
// identity provider (`jwk_url`), kept in memory and refreshed in the background, one fetcher
// thread per URL however many endpoints use it.
//
// - Fetched at start, then again before `cache_duration` runs out. A failed refresh keeps the
//   current set until that set's own expiry (never longer: an expired set is no set, as in
//   KrakenD), retrying with backoff.
// - A token naming a kid the set lacks (the provider rotated its keys) asks for a refetch; the
//   request waits for it. At most one fetch per `cooldown` (at least 1 s), so a flood of tokens
//   with random kids costs the provider one request a second, not one per token.
// - Readers take the current set with one atomic load: no lock on the request path.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ssl/context.hpp"
#include "gateway/components/auth/validator/jose.h"

namespace sluice::components::auth {

struct HttpUrl {
  bool https = false;
  std::string host;
  std::string port = "80";   // 443 for https
  std::string target = "/";  // path and query
};

// TLS to the identity provider (KrakenD's JWK client): the context (TLS 1.2+, cipher_suites,
// the system pool plus jwk_local_ca, no verification with disable_jwk_security) and the pins.
struct JwkTls {
  std::shared_ptr<boost::asio::ssl::context> context;
  // jwk_fingerprints: base64url (padded) SHA-256 of the DER SubjectPublicKeyInfo of one of the
  // provider's chain certificates; when set, one must match.
  std::vector<std::string> fingerprints;
  std::string describe;  // what distinguishes two JwkTls for the same URL (CA file, pins...)
};

// Splits an `http://` or `https://host[:port]/path` URL; nullopt for anything else.
std::optional<HttpUrl> ParseHttpUrl(std::string_view url);

// Ends a FetchKeySet running on another thread at once, instead of at its timeout: so that the
// owner of a fetcher thread (a configuration being replaced, or the process stopping) does not
// wait for a provider that does not answer.
class FetchCancel {
 public:
  // From any thread: the fetch running now, and any started later, end Cancelled.
  void Cancel();

 private:
  friend absl::StatusOr<std::shared_ptr<const KeySet>> FetchKeySet(const HttpUrl&, const JwkTls&,
                                                                   absl::Duration, FetchCancel*);
  // Around the fetch's event loop's run: false once cancelled (Begin then keeps no loop).
  bool Begin(boost::asio::io_context* ioc);
  bool End();

  std::mutex mu_;
  boost::asio::io_context* running_ = nullptr;
  bool cancelled_ = false;
};

// GET `url`, expecting 200 with a JWK Set (Content-Type application/json or
// application/jwk-set+json), within `timeout`. Blocking; runs on the fetcher thread. Cancelled
// when `cancel` (may be null) is.
absl::StatusOr<std::shared_ptr<const KeySet>> FetchKeySet(const HttpUrl& url, const JwkTls& tls,
                                                          absl::Duration timeout,
                                                          FetchCancel* cancel = nullptr);

class RemoteKeys {
 public:
  struct Options {
    std::string url;
    absl::Duration ttl = absl::Seconds(900);
    absl::Duration cooldown = absl::Seconds(1);
    absl::Duration timeout = absl::Seconds(5);
    JwkTls tls;  // for https:// URLs
  };

  // The source for `options.url`, shared by every endpoint with the same URL; its thread starts
  // with the first caller and stops with the last owner.
  static std::shared_ptr<RemoteKeys> For(const Options& options);

  explicit RemoteKeys(Options options, HttpUrl url);
  ~RemoteKeys();
  RemoteKeys(const RemoteKeys&) = delete;
  RemoteKeys& operator=(const RemoteKeys&) = delete;

  // The set in force, or nullptr (not fetched yet, or expired). Valid until at least
  // kRetainedSets later sets have replaced it, which takes kRetainedSets cooldowns: far longer
  // than a caller holds it (one verification).
  const KeySet* Current() const;

  // Asks for a fetch because a token named a kid the set `seen` (Current() when the caller
  // looked; may be null) lacks. `done` is posted to `ioc` once the fetch has finished (whatever
  // its result), or at once if a newer set came in since the caller looked (a fetch that ended
  // in between: the caller checks again against it). Returns false, and does not call `done`, if
  // a fetch ran less than `cooldown` ago or too many requests already wait: the caller answers
  // with the set it has.
  bool Refresh(boost::asio::io_context& ioc, const KeySet* seen, std::function<void()> done);

  uint64_t fetches() const { return fetches_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kRetainedSets = 8;
  static constexpr size_t kMaxWaiters = 10000;

  void Run();
  void Install(std::shared_ptr<const KeySet> set, absl::Time fetched);

  const Options options_;
  const HttpUrl url_;

  std::atomic<const KeySet*> current_{nullptr};
  std::atomic<int64_t> expires_unix_ns_{0};  // steady clock, ns
  std::atomic<uint64_t> fetches_{0};
  std::deque<std::shared_ptr<const KeySet>> retained_;  // fetcher thread only

  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool asked_ = false;     // a fetch is due now
  bool fetching_ = false;  // a fetch is running; Refresh joins it
  absl::Time last_fetch_ = absl::InfinitePast();
  std::vector<std::pair<boost::asio::io_context*, std::function<void()>>> waiters_;
  FetchCancel cancel_;  // by the destructor
  std::thread thread_;
};

}  // namespace sluice::components::auth
