#include "gateway/components/auth/validator/keys.h"

#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <map>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl/stream.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/core/tcp_stream.hpp"
#include "boost/beast/http.hpp"
#include "gateway/common/logging.h"
#include "gateway/common/strings.h"
#include "gateway/http/tls.h"
#include "gateway/version/version.h"

namespace sluice::components::auth {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// Backoff between failed fetches.
constexpr absl::Duration kFirstRetry = absl::Seconds(1);
constexpr absl::Duration kMaxRetry = absl::Seconds(30);

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

}  // namespace

std::optional<HttpUrl> ParseHttpUrl(std::string_view url) {
  HttpUrl out;
  const absl::string_view view(url.data(), url.size());
  if (absl::StartsWithIgnoreCase(view, "https://")) {
    out.https = true;
    out.port = "443";
    url.remove_prefix(8);
  } else if (absl::StartsWithIgnoreCase(view, "http://")) {
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  const size_t slash = url.find_first_of("/?");
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) {
    out.target = std::string(url.substr(slash));
    if (out.target.front() == '?') out.target.insert(0, "/");
  }
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  if (authority.front() == '[') {  // [::1]:8080
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() != ':') return std::nullopt;
    if (!authority.empty()) out.port = std::string(authority.substr(1));
  } else {
    const size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) out.port = std::string(authority.substr(colon + 1));
  }
  uint32_t port = 0;
  if (out.host.empty() || !ParseUint(out.port, &port) || port == 0 || port > 65535) {
    return std::nullopt;
  }
  return out;
}

namespace {

// base64url, padded, of the SHA-256 of a certificate's DER SubjectPublicKeyInfo (KrakenD's pin).
std::string SpkiFingerprint(X509* cert) {
  unsigned char* der = nullptr;
  const int size = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (size <= 0) return "";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<size_t>(size), digest);
  OPENSSL_free(der);
  std::string out;
  absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)),
                     &out);
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

// Whether a certificate of the provider's chain carries one of `pins`.
// `seen`: the chain's fingerprints, for the message when none matches.
bool Pinned(SSL* ssl, const std::vector<std::string>& pins, std::string* seen) {
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);  // the client's view includes the leaf
  for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
    const std::string fingerprint = SpkiFingerprint(sk_X509_value(chain, i));
    absl::StrAppend(seen, seen->empty() ? "" : ", ", fingerprint);
    for (const std::string& pin : pins) {
      if (pin == fingerprint) return true;
    }
  }
  return false;
}

// One GET on a connected (and, for https, handshaken) stream, the answer bounded in size.
template <class Stream>
struct Exchange {
  Exchange(Stream& s, bhttp::request<bhttp::empty_body>& r, absl::Status& st)
      : stream(s), request(r), status(st) {}
  Stream& stream;
  bhttp::request<bhttp::empty_body>& request;
  absl::Status& status;
  beast::flat_buffer buffer{64 * 1024};  // each read step takes at most this much
  bhttp::response_parser<bhttp::string_body> parser;

  void Start() {
    parser.body_limit(kMaxKeySetBytes);
    bhttp::async_write(stream, request, [this](beast::error_code ec, std::size_t) {
      if (ec) return Fail("write", ec);
      bhttp::async_read_header(stream, buffer, parser,
                               [this](beast::error_code e, std::size_t) { OnRead(e); });
    });
  }
  void OnRead(beast::error_code ec) {
    if (ec) return Fail("read", ec);
    // Beast's own body_limit is not trusted alone (see backend/rest): the size is checked here.
    if (parser.get().body().size() > kMaxKeySetBytes ||
        parser.content_length().value_or(0) > kMaxKeySetBytes) {
      status = absl::ResourceExhaustedError("the answer is over 1 MiB");
      return;
    }
    if (!parser.is_done()) {
      return bhttp::async_read_some(stream, buffer, parser,
                                    [this](beast::error_code e, std::size_t) { OnRead(e); });
    }
    status = absl::OkStatus();
  }
  void Fail(const char* step, beast::error_code ec) {
    status = absl::UnavailableError(absl::StrCat(step, ": ", ec.message()));
  }
};

}  // namespace

void FetchCancel::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  if (running_ != nullptr) running_->stop();
}

bool FetchCancel::Begin(asio::io_context* ioc) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return false;
  running_ = ioc;
  return true;
}

bool FetchCancel::End() {
  std::lock_guard<std::mutex> lock(mu_);
  running_ = nullptr;
  return !cancelled_;
}

absl::StatusOr<std::shared_ptr<const KeySet>> FetchKeySet(const HttpUrl& url, const JwkTls& tls,
                                                          absl::Duration timeout,
                                                          FetchCancel* cancel) {
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream plain(ioc);
  std::optional<asio::ssl::stream<beast::tcp_stream&>> secure;
  if (url.https) {
    if (tls.context == nullptr) return absl::FailedPreconditionError("no TLS context for https");
    secure.emplace(plain, *tls.context);
  }
  const bool default_port = url.port == (url.https ? "443" : "80");
  bhttp::request<bhttp::empty_body> req(bhttp::verb::get, url.target, 11);
  req.set(bhttp::field::host, default_port ? url.host : absl::StrCat(url.host, ":", url.port));
  req.set(bhttp::field::user_agent, Bv(version::UserAgent()));
  req.set(bhttp::field::accept, "application/jwk-set+json, application/json");
  req.set(bhttp::field::connection, "close");

  absl::Status status =
      absl::DeadlineExceededError(absl::StrCat("no answer within ", absl::FormatDuration(timeout)));
  Exchange<beast::tcp_stream> over_plain(plain, req, status);
  std::optional<Exchange<asio::ssl::stream<beast::tcp_stream&>>> over_tls;
  if (secure) over_tls.emplace(*secure, req, status);
  auto fail = [&](const char* step, beast::error_code ec) {
    status = absl::UnavailableError(absl::StrCat(step, ": ", ec.message()));
  };
  resolver.async_resolve(
      url.host, url.port, [&](beast::error_code ec, tcp::resolver::results_type r) {
        if (ec) return fail("resolve", ec);
        plain.async_connect(r, [&](beast::error_code ec, const tcp::endpoint&) {
          if (ec) return fail("connect", ec);
          if (!secure) return over_plain.Start();
          SSL* ssl = secure->native_handle();
          if (absl::Status st = http::PrepareClientConnection(ssl, url.host); !st.ok()) {
            status = st;
            return;
          }
          secure->async_handshake(asio::ssl::stream_base::client, [&, ssl](beast::error_code ec) {
            if (ec) {
              status = absl::UnavailableError(http::HandshakeError(ssl, ec));
              return;
            }
            if (std::string seen;
                !tls.fingerprints.empty() && !Pinned(ssl, tls.fingerprints, &seen)) {
              status = absl::PermissionDeniedError(absl::StrCat(
                  "tls: no certificate of the provider's chain matches jwk_fingerprints (the "
                  "chain's: ",
                  seen, ")"));
              return;
            }
            over_tls->Start();
          });
        });
      });
  // A cancel that comes before the run stops the loop, and the run returns at once.
  if (cancel != nullptr && !cancel->Begin(&ioc)) return absl::CancelledError("cancelled");
  ioc.run_for(absl::ToChronoNanoseconds(timeout));
  if (cancel != nullptr && !cancel->End()) return absl::CancelledError("cancelled");
  if (!status.ok()) return status;
  const auto& res = secure ? over_tls->parser.get() : over_plain.parser.get();
  if (res.result() != bhttp::status::ok) {
    return absl::UnavailableError(absl::StrCat("HTTP ", res.result_int()));
  }
  const std::string_view type = Sv(res[bhttp::field::content_type]);
  const std::string_view media = TrimOws(type.substr(0, type.find(';')));
  if (!EqualsIgnoreCase(media, "application/json") &&
      !EqualsIgnoreCase(media, "application/jwk-set+json")) {
    return absl::InvalidArgumentError(
        absl::StrCat("Content-Type \"", std::string(type),
                     "\" (application/json or application/jwk-set+json expected)"));
  }
  return ParseKeySet(res.body());
}

std::shared_ptr<RemoteKeys> RemoteKeys::For(const Options& options) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<RemoteKeys>> sources;
  const std::string key =
      absl::StrCat(options.url, "|", absl::FormatDuration(options.ttl), "|",
                   absl::FormatDuration(options.cooldown), "|", options.tls.describe);
  std::lock_guard<std::mutex> lock(mu);
  if (auto existing = sources[key].lock()) return existing;
  std::optional<HttpUrl> url = ParseHttpUrl(options.url);
  if (!url) return nullptr;
  auto source = std::make_shared<RemoteKeys>(options, std::move(*url));
  sources[key] = source;
  return source;
}

RemoteKeys::RemoteKeys(Options options, HttpUrl url)
    : options_(std::move(options)), url_(std::move(url)) {
  asked_ = true;  // the first fetch, at once
  thread_ = std::thread([this] { Run(); });
}

RemoteKeys::~RemoteKeys() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cancel_.Cancel();
  wake_.notify_all();
  thread_.join();
}

const KeySet* RemoteKeys::Current() const {
  if (NowNs() >= expires_unix_ns_.load(std::memory_order_acquire)) return nullptr;
  return current_.load(std::memory_order_acquire);
}

bool RemoteKeys::Refresh(asio::io_context& ioc, const KeySet* seen, std::function<void()> done) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_ || waiters_.size() >= kMaxWaiters) return false;
  // A fetch installed its set (before clearing fetching_, under mu_) after the caller looked:
  // without this the caller, inside the cooldown that fetch started, would refuse a token the
  // new set verifies (the first request after start could get 401 so).
  if (Current() != seen) {
    asio::post(ioc, std::move(done));
    return true;
  }
  if (!asked_ && !fetching_) {
    if (absl::Now() - last_fetch_ < options_.cooldown) return false;
    asked_ = true;
    wake_.notify_one();
  }
  waiters_.emplace_back(&ioc, std::move(done));
  return true;
}

void RemoteKeys::Run() {
  absl::Duration retry = kFirstRetry;
  absl::Time next = absl::InfiniteFuture();
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_until(lock, absl::ToChronoTime(next),
                       [&] { return stop_ || asked_ || absl::Now() >= next; });
      if (stop_) return;
      asked_ = false;
      fetching_ = true;
      last_fetch_ = absl::Now();
    }
    const absl::Time started = absl::Now();
    absl::StatusOr<std::shared_ptr<const KeySet>> set =
        FetchKeySet(url_, options_.tls, options_.timeout, &cancel_);
    fetches_.fetch_add(1, std::memory_order_relaxed);
    if (set.ok()) {
      Install(std::move(*set), started);
      retry = kFirstRetry;
      // Refresh ahead of expiry, so that a slow provider does not leave a gap.
      next = started + options_.ttl * 0.9;
      log::Debug("auth/validator: {} keys from {}", current_.load()->keys.size(), options_.url);
    } else if (!absl::IsCancelled(set.status())) {  // only the destructor cancels
      log::Warn("auth/validator: cannot fetch the JWK Set from {}: {} (next try in {})",
                options_.url, std::string(set.status().message()), absl::FormatDuration(retry));
      next = absl::Now() + retry;
      retry = std::min(retry * 2, kMaxRetry);
    }
    std::vector<std::pair<asio::io_context*, std::function<void()>>> waiters;
    {
      std::lock_guard<std::mutex> lock(mu_);
      fetching_ = false;
      waiters.swap(waiters_);
    }
    for (auto& [ioc, done] : waiters) asio::post(*ioc, std::move(done));
  }
}

void RemoteKeys::Install(std::shared_ptr<const KeySet> set, absl::Time fetched) {
  current_.store(set.get(), std::memory_order_release);
  const int64_t ttl_ns = absl::ToInt64Nanoseconds(options_.ttl);
  const int64_t age_ns = absl::ToInt64Nanoseconds(absl::Now() - fetched);
  expires_unix_ns_.store(NowNs() + ttl_ns - age_ns, std::memory_order_release);
  retained_.push_back(std::move(set));
  if (retained_.size() > kRetainedSets) retained_.pop_front();
}

}  // namespace sluice::components::auth
