#include "gateway/components/qos/httpcache/cache.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "boost/asio/post.hpp"
#include "gateway/common/clock.h"
#include "gateway/common/strings.h"
#include "gateway/http/wire.h"

namespace sluice::components::httpcache {

namespace bhttp = boost::beast::http;
using backend::BackendResponse;
using backend::Fields;

std::shared_ptr<const Config> Parse(config::ObjectReader& reader) {
  auto config = std::make_shared<Config>();
  reader.CheckKeys({"shared", "max_items", "max_size"});
  if (auto v = reader.Bool("shared")) config->shared = *v;
  const auto items = reader.Int("max_items", 1, int64_t{1} << 40);
  const auto size = reader.Int("max_size", 1024, int64_t{1} << 50);
  if (items) config->max_items = *items;
  if (size) config->max_size = *size;
  if (!items || !size) {
    reader.Warn(
        "", absl::StrCat(
                "warning: without both max_items and max_size KrakenD's cache grows without bound; "
                "Sluice bounds it at ",
                config->max_items, " items and ", config->max_size, " bytes"));
  }
  return config;
}

// --- The store ----------------------------------------------------------------------------

EntryPtr Store::Get(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void Store::Put(const std::string& key, EntryPtr entry) {
  if (static_cast<int64_t>(entry->size) >= max_size_) return;
  absl::MutexLock lock(&mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->second->size;
    lru_.erase(it->second);
    index_.erase(it);
  }
  bytes_ += entry->size;
  lru_.emplace_front(key, std::move(entry));
  index_[key] = lru_.begin();
  while (static_cast<int64_t>(lru_.size()) > max_items_ ||
         static_cast<int64_t>(bytes_) > max_size_) {
    bytes_ -= lru_.back().second->size;
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

size_t Store::items() {
  absl::MutexLock lock(&mu_);
  return lru_.size();
}

size_t Store::bytes() {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

std::shared_ptr<Store> Store::Shared(int64_t max_items, int64_t max_size) {
  static absl::Mutex mu(absl::kConstInit);
  static std::weak_ptr<Store>* shared = new std::weak_ptr<Store>();
  absl::MutexLock lock(&mu);
  std::shared_ptr<Store> store = shared->lock();
  if (store == nullptr) {
    store = std::make_shared<Store>(max_items, max_size);
    *shared = store;
  }
  return store;
}

// --- The rules ----------------------------------------------------------------------------

namespace {

// Cache-Control directives: lower-case names, values unquoted ("" when none).
using Directives = std::vector<std::pair<std::string, std::string>>;

Directives ParseCacheControl(const Fields& headers) {
  Directives out;
  for (auto it = headers.find(bhttp::field::cache_control);
       it != headers.end() && it->name() == bhttp::field::cache_control; ++it) {
    for (absl::string_view part :
         absl::StrSplit(absl::string_view(it->value().data(), it->value().size()), ',')) {
      part = absl::StripAsciiWhitespace(part);
      if (part.empty()) continue;
      const size_t eq = part.find('=');
      std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(part.substr(0, eq)));
      std::string value;
      if (eq != absl::string_view::npos) {
        absl::string_view v = absl::StripAsciiWhitespace(part.substr(eq + 1));
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        value = std::string(v);
      }
      out.emplace_back(std::move(name), std::move(value));
    }
  }
  return out;
}

const std::string* Find(const Directives& d, std::string_view name) {
  for (const auto& [n, v] : d) {
    if (n == name) return &v;
  }
  return nullptr;
}

std::optional<absl::Duration> Seconds(const std::string* value) {
  int64_t s = 0;
  if (value == nullptr || !absl::SimpleAtoi(*value, &s) || s < 0) return std::nullopt;
  return absl::Seconds(s);
}

std::string_view Value(const Fields& headers, bhttp::field f) {
  auto it = headers.find(f);
  return it == headers.end() ? std::string_view() : Sv(it->value());
}

bool VaryMatches(const Entry& e, const Fields& request) {
  for (const auto& [name, value] : e.vary) {
    if (Sv(request[name]) != value) {
      return false;
    }
  }
  return true;
}

// `stale-if-error` in the stored answer: without a value any staleness is served, with one only
// that much past the lifetime.
bool ServesStaleOnError(const Entry& e, absl::Time now) {
  if (!e.stale_if_error) return false;
  if (*e.stale_if_error == absl::InfiniteDuration()) return true;
  return e.date && now - *e.date < e.lifetime + *e.stale_if_error;
}

bool Storable(const BackendResponse& a, const Directives& request_cc) {
  if (Find(request_cc, "no-store") != nullptr) return false;
  if (Find(ParseCacheControl(a.headers), "no-store") != nullptr) return false;
  if (a.headers.find(bhttp::field::content_encoding) != a.headers.end()) return false;
  return Value(a.headers, bhttp::field::vary) != "*";
}

size_t SizeOf(const Entry& e, const std::string& key) {
  size_t n = key.size() + e.body.size();
  for (const auto& f : e.headers) n += f.name_string().size() + f.value().size() + 4;
  for (const auto& [name, value] : e.vary) n += name.size() + value.size();
  return n;
}

std::shared_ptr<Entry> MakeEntry(const BackendResponse& a, const Fields& request, absl::Time now,
                                 const std::string& key) {
  auto e = std::make_shared<Entry>();
  e->status = a.status;
  e->headers = a.headers;
  e->body = a.body;
  e->stored = now;
  for (absl::string_view name :
       absl::StrSplit(absl::string_view(Value(a.headers, bhttp::field::vary).data(),
                                        Value(a.headers, bhttp::field::vary).size()),
                      ',', absl::SkipWhitespace())) {
    std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(name));
    std::string value(Sv(request[lower]));
    e->vary.emplace_back(std::move(lower), std::move(value));
  }
  e->size = SizeOf(*e, key);
  e->Derive();
  return e;
}

BackendResponse Serve(const Entry& e, absl::Time now) {
  BackendResponse a;
  a.status = e.status;
  a.headers = e.headers;
  a.headers.set(bhttp::field::age, std::to_string(AgeOf(e, now)));
  a.body = e.body;
  return a;
}

}  // namespace

std::optional<absl::Time> ParseHttpDate(std::string_view text) {
  static const char* const kFormats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                         "%a %b %e %H:%M:%S %Y"};
  const std::string s(text);
  for (const char* format : kFormats) {
    absl::Time t;
    std::string error;
    if (absl::ParseTime(format, s, absl::UTCTimeZone(), &t, &error)) return t;
  }
  return std::nullopt;
}

void Entry::Derive() {
  const Directives cc = ParseCacheControl(headers);
  date = ParseHttpDate(Value(headers, bhttp::field::date));
  lifetime = absl::ZeroDuration();
  if (auto max_age = Seconds(Find(cc, "max-age"))) {
    lifetime = *max_age;
  } else if (auto expires = ParseHttpDate(Value(headers, bhttp::field::expires)); expires && date) {
    lifetime = *expires - *date;
  }
  no_cache = Find(cc, "no-cache") != nullptr;
  stale_if_error.reset();
  if (const std::string* v = Find(cc, "stale-if-error")) {
    stale_if_error =
        v->empty() ? std::optional<absl::Duration>(absl::InfiniteDuration()) : Seconds(v);
  }
}

int64_t AgeOf(const Entry& e, absl::Time now) {
  const absl::Time since = e.date.value_or(e.stored);
  return std::max<int64_t>(0, absl::ToInt64Seconds(now - since));
}

Freshness FreshnessOf(const Entry& e, const Fields& request, absl::Time now) {
  const Directives req = ParseCacheControl(request);
  if (Find(req, "no-cache") != nullptr) return Freshness::kTransparent;
  if (e.no_cache) return Freshness::kStale;
  if (Find(req, "only-if-cached") != nullptr) return Freshness::kFresh;
  if (!e.date) return Freshness::kStale;
  absl::Duration age = now - *e.date;
  absl::Duration lifetime = e.lifetime;
  if (auto max_age = Seconds(Find(req, "max-age"))) lifetime = *max_age;
  if (auto min_fresh = Seconds(Find(req, "min-fresh"))) age += *min_fresh;
  if (const std::string* max_stale = Find(req, "max-stale")) {
    if (max_stale->empty()) return Freshness::kFresh;
    if (auto d = Seconds(max_stale)) age -= *d;
  }
  return lifetime > age ? Freshness::kFresh : Freshness::kStale;
}

// --- The backend stage --------------------------------------------------------------------

Cache::Cache(backend::BackendPtr next, std::shared_ptr<Store> store, std::vector<std::string> hosts,
             metrics::Registry* registry, int backend_id)
    : next_(std::move(next)),
      store_(std::move(store)),
      hosts_(std::move(hosts)),
      registry_(registry),
      backend_id_(backend_id) {
  if (registry_ != nullptr) registry_->mark_cached(backend_id_);
}

void Cache::Count(const backend::CallContext& ctx,
                  metrics::Counter metrics::BackendStats::*counter) const {
  if (registry_ != nullptr) (registry_->backend(ctx.worker, backend_id_).*counter).Add();
}

void Cache::Call(backend::BackendRequest&& request, const backend::CallContext& ctx,
                 backend::Deadline deadline, backend::Done done) const {
  const bool head = request.method == "HEAD";
  if ((!head && request.method != "GET") || hosts_.empty() ||
      request.headers.find(bhttp::field::range) != request.headers.end()) {
    return next_->Call(std::move(request), ctx, deadline, std::move(done));
  }
  std::string key =
      absl::StrCat(head ? "HEAD " : "", hosts_[request.host % hosts_.size()], request.target);
  EntryPtr cached = store_->Get(key);
  if (cached != nullptr && !VaryMatches(*cached, request.headers)) cached = nullptr;
  bool revalidating = false;
  if (cached != nullptr) {
    const absl::Time now = absl::FromUnixNanos(UnixNanos());
    const Freshness freshness = FreshnessOf(*cached, request.headers, now);
    if (freshness == Freshness::kFresh) {
      Count(ctx, &metrics::BackendStats::cache_hits);
      boost::asio::post(*ctx.ioc, [done = std::move(done), answer = Serve(*cached, now)]() mutable {
        done(std::move(answer));
      });
      return;
    }
    // A stale entry is revalidated with its validators, unless the client's request carries
    // its own conditions (its 304 is then the client's answer, not the cache's).
    if (freshness == Freshness::kStale &&
        request.headers.find(bhttp::field::if_none_match) == request.headers.end() &&
        request.headers.find(bhttp::field::if_modified_since) == request.headers.end()) {
      if (auto etag = Value(cached->headers, bhttp::field::etag); !etag.empty()) {
        request.headers.set(bhttp::field::if_none_match, Bv(etag));
        revalidating = true;
      }
      if (auto modified = Value(cached->headers, bhttp::field::last_modified); !modified.empty()) {
        request.headers.set(bhttp::field::if_modified_since, Bv(modified));
        revalidating = true;
      }
    }
  }
  // What storing needs of the request once it has been sent: its Cache-Control and the values
  // of the headers a Vary may name.
  Fields request_headers = request.headers;
  next_->Call(
      std::move(request), ctx, deadline,
      [this, worker = ctx.worker, ioc = ctx.ioc, request_id = ctx.request_id, key = std::move(key),
       cached = std::move(cached), revalidating, request_headers = std::move(request_headers),
       done = std::move(done)](BackendResponse&& answer) mutable {
        const backend::CallContext ctx{worker, ioc, request_id};
        const absl::Time now = absl::FromUnixNanos(UnixNanos());
        if (revalidating && answer.ok() && answer.status == 304) {
          // Confirmed: the stored answer with the 304's end-to-end headers.
          auto refreshed = std::make_shared<Entry>(*cached);
          for (const auto& f : answer.headers) {
            if (!http::IsHopByHop(f.name()) && f.name() != bhttp::field::content_length) {
              refreshed->headers.erase(f.name_string());
            }
          }
          for (const auto& f : answer.headers) {
            if (!http::IsHopByHop(f.name()) && f.name() != bhttp::field::content_length) {
              refreshed->headers.insert(f.name_string(), f.value());
            }
          }
          refreshed->stored = now;
          refreshed->size = SizeOf(*refreshed, key);
          refreshed->Derive();
          Count(ctx, &metrics::BackendStats::cache_revalidated);
          BackendResponse served = Serve(*refreshed, now);
          store_->Put(key, std::move(refreshed));
          return done(std::move(served));
        }
        if (cached != nullptr && (!answer.ok() || answer.status >= 500) &&
            ServesStaleOnError(*cached, now)) {
          Count(ctx, &metrics::BackendStats::cache_hits);
          return done(Serve(*cached, now));
        }
        Count(ctx, &metrics::BackendStats::cache_misses);
        if (answer.ok() && !answer.data && Storable(answer, ParseCacheControl(request_headers))) {
          store_->Put(key, MakeEntry(answer, request_headers, now, key));
        }
        done(std::move(answer));
      });
}

backend::BackendPtr Wrap(const Config& config, backend::BackendPtr next,
                         const config::Backend& backend, metrics::Registry* registry,
                         int backend_id) {
  std::vector<std::string> hosts;
  for (const config::HostAddress& h : backend.hosts) {
    hosts.push_back(absl::StrCat(h.scheme, "://", h.host, ":", h.port));
  }
  std::shared_ptr<Store> store = config.shared
                                     ? Store::Shared(config.max_items, config.max_size)
                                     : std::make_shared<Store>(config.max_items, config.max_size);
  return std::make_unique<Cache>(std::move(next), std::move(store), std::move(hosts), registry,
                                 backend_id);
}

}  // namespace sluice::components::httpcache
