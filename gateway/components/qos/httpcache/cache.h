#pragma once

// KrakenD's `qos/http-cache` (backend level; v2 `github.com/devopsfaith/krakend-httpcache`): an
// HTTP cache in the backend's transport, with the rules of the library KrakenD uses
// (gregjones/httpcache), so an answer is cached exactly when KrakenD would cache it:
// - GET and HEAD requests without Range; the key is the URL called (host and target; HEAD keys
//   prefixed "HEAD "). Any status is stored unless `no-store` is in the request or answer.
// - Fresh while its age (now - Date) is under its lifetime: Cache-Control max-age, else
//   Expires - Date; no Date means stale. The forwarded request's Cache-Control (no-cache,
//   max-age, min-fresh, max-stale, only-if-cached) counts, as there.
// - A stale entry with an ETag or Last-Modified is revalidated (If-None-Match /
//   If-Modified-Since): a 304 refreshes its headers and serves it; anything else replaces it.
//   `stale-if-error` in the stored answer serves it stale when the backend fails or answers 5xx.
// - Vary: an entry answers only requests with the same values of the headers it names.
// Sluice's own rules, each for a reason:
// - memory is always bounded: without max_items and max_size KrakenD keeps an unbounded map;
//   Sluice applies kDefaultMaxItems / kDefaultMaxSize and says so at load;
// - answers with a Content-Encoding (a no-op endpoint passing gzip through) are not stored: the
//   next client may not accept it;
// - a served entry carries `Age` (seconds), so a no-op endpoint's client can tell.
// The store is shared by every worker (a mutex, held for a map lookup and a list splice); only
// backends with the namespace have one, and `shared: true` makes one store for the process.

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/backend/backend.h"
#include "gateway/config/reader.h"
#include "gateway/metrics/registry.h"

namespace sluice::components::httpcache {

inline constexpr std::string_view kNamespace = "qos/http-cache";
inline constexpr int64_t kDefaultMaxItems = 10000;
inline constexpr int64_t kDefaultMaxSize = int64_t{64} << 20;

struct Config : config::ComponentConfig {
  bool shared = false;  // one store for every backend with shared: true (the first one's limits)
  int64_t max_items = kDefaultMaxItems;
  int64_t max_size = kDefaultMaxSize;  // bytes of bodies and headers; larger answers skip
};

std::shared_ptr<const Config> Parse(config::ObjectReader& reader);

// One stored answer. Immutable once stored: readers hold it by shared_ptr outside the lock.
struct Entry {
  unsigned status = 0;
  backend::Fields headers;
  std::string body;
  absl::Time stored = absl::InfinitePast();  // when the answer arrived (for Age without Date)
  // Request header values the answer varies on (Vary), lower-case names.
  std::vector<std::pair<std::string, std::string>> vary;
  size_t size = 0;

  // What the rules read of the answer's headers, derived once by Derive() when it is stored or
  // refreshed, so a lookup parses nothing of it.
  std::optional<absl::Time> date;                  // Date
  absl::Duration lifetime = absl::ZeroDuration();  // max-age, else Expires - Date
  bool no_cache = false;                           // Cache-Control: no-cache
  std::optional<absl::Duration> stale_if_error;    // its value; infinite without one
  void Derive();
};
using EntryPtr = std::shared_ptr<const Entry>;

// A least-recently-used map of entries, bounded by count and bytes. Thread-safe.
class Store {
 public:
  Store(int64_t max_items, int64_t max_size) : max_items_(max_items), max_size_(max_size) {}

  EntryPtr Get(const std::string& key);
  // Stores (replacing) unless the entry alone is max_size or larger; evicts the least recently
  // used entries until both bounds hold.
  void Put(const std::string& key, EntryPtr entry);

  size_t items();
  size_t bytes();

  // The process-wide store of `shared: true` backends (created with the first caller's limits).
  static std::shared_ptr<Store> Shared(int64_t max_items, int64_t max_size);

 private:
  using Lru = std::list<std::pair<std::string, EntryPtr>>;
  const int64_t max_items_;
  const int64_t max_size_;
  absl::Mutex mu_;
  Lru lru_ ABSL_GUARDED_BY(mu_);  // most recent first
  absl::flat_hash_map<std::string, Lru::iterator> index_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

// What the rules say of a stored entry for a request, at `now`.
enum class Freshness { kFresh, kStale, kTransparent };  // transparent: go to the backend
Freshness FreshnessOf(const Entry& entry, const backend::Fields& request, absl::Time now);

// The entry's age in whole seconds at `now` (now - Date, or now - stored without a Date).
int64_t AgeOf(const Entry& entry, absl::Time now);

// An HTTP date (IMF-fixdate, RFC 850 or asctime), or nullopt.
std::optional<absl::Time> ParseHttpDate(std::string_view text);

// The cache in a backend's stack, between the balancer (which picks the host) and the transport.
class Cache final : public backend::Backend {
 public:
  // `hosts` are the backend's host URLs ("http://127.0.0.1:8080"), indexed as request.host.
  // `registry` (may be null) receives hits, revalidations and misses for `backend_id`.
  Cache(backend::BackendPtr next, std::shared_ptr<Store> store, std::vector<std::string> hosts,
        metrics::Registry* registry, int backend_id);

  void Call(backend::BackendRequest&& request, const backend::CallContext& ctx,
            backend::Deadline deadline, backend::Done done) const override;

 private:
  void Count(const backend::CallContext& ctx,
             metrics::Counter metrics::BackendStats::*counter) const;

  backend::BackendPtr next_;
  std::shared_ptr<Store> store_;
  std::vector<std::string> hosts_;
  metrics::Registry* registry_;
  int backend_id_;
};

backend::BackendPtr Wrap(const Config& config, backend::BackendPtr next,
                         const config::Backend& backend, metrics::Registry* registry,
                         int backend_id);

}  // namespace sluice::components::httpcache
