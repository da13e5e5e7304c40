#include "gateway/components/sluice/clusterlimit/redis.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/posix/stream_descriptor.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "gateway/common/logging.h"

namespace sluice::components::clusterlimit {

namespace asio = boost::asio;

std::shared_ptr<const Config> Parse(config::ObjectReader& reader) {
  auto config = std::make_shared<Config>();
  reader.CheckKeys({"address", "timeout", "on_error", "prefix"});
  const std::string address = reader.String("address").value_or("");
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (address.empty() || colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port == 0 || port > 65535) {
    reader.Error("address", "expected \"host:port\" of the Redis server");
  } else {
    config->host = address.substr(0, colon);
    config->port = static_cast<uint16_t>(port);
  }
  if (auto t = reader.Duration("timeout")) {
    if (*t < absl::Milliseconds(1) || *t > absl::Seconds(5)) {
      reader.Error("timeout", "expected 1ms to 5s: the longest a request waits for Redis");
    } else {
      config->timeout = *t;
    }
  }
  const std::string on_error = reader.String("on_error").value_or("deny");
  if (on_error == "allow") {
    config->allow_on_error = true;
  } else if (on_error != "deny") {
    reader.Error("on_error", "expected \"deny\" (fail closed, 503) or \"allow\" (fail open)");
  }
  if (auto p = reader.String("prefix")) config->prefix = *p;
  return config;
}

namespace {

// GCRA over every KEYS[i] with ARGV[2i-1] interval and ARGV[2i] tolerance (microseconds), on
// Redis's clock; returns 0 when all admit, else the 1-based index of the first that refuses.
// Numbers are written with %.0f: Lua's own conversion would round them to 14 digits.
constexpr char kScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  if tat - now > tolerance then return i end
  local nxt = tat + interval
  redis.call('SET', KEYS[i], string.format('%.0f', nxt), 'PX',
             math.floor((nxt - now) / 1000) + 1)
end
return 0
)lua";

constexpr auto kRetryEvery = std::chrono::seconds(1);

}  // namespace

// One worker's connection: hiredis's async context with its socket watched by Asio on the
// worker's event loop. Lives as long as the limiter (handlers hold it by shared_ptr).
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& ioc, RedisLimiter& owner, const Config& config)
      : ioc_(ioc), owner_(owner), config_(config) {}

  ~Connection() {
    if (ac_ != nullptr) {
      redisAsyncContext* ac = ac_;
      ac_ = nullptr;
      ac->ev.data = nullptr;            // hooks see a dead connection
      if (socket_) socket_->release();  // hiredis closes the descriptor
      redisAsyncFree(ac);
    }
  }

  void Decide(absl::Span<const Check> checks, RedisLimiter::Decided done) {
    auto request = std::make_shared<Request>(ioc_);
    request->done = std::move(done);
    if (ac_ == nullptr && !Connect()) return Fail(std::move(request));
    // The bounded wait: whichever of the timer and the reply comes first decides.
    request->timer.expires_after(absl::ToChronoNanoseconds(config_.timeout));
    request->timer.async_wait([self = shared_from_this(), request](boost::system::error_code ec) {
      if (ec || request->done == nullptr) return;
      self->owner_.Observe(false);
      self->Finish(*request, Verdict::kUnavailable);
    });
    // EVAL script numkeys key... (interval tolerance)...: hiredis copies the arguments into
    // its output buffer, so they may live on this stack.
    constexpr size_t kMaxChecks = 2;
    const size_t n = std::min(checks.size(), kMaxChecks);
    std::string client_keys[kMaxChecks];
    std::array<const char*, 3 + 3 * kMaxChecks> argv{"EVAL", kScript, n == 1 ? "1" : "2"};
    std::array<size_t, 3 + 3 * kMaxChecks> lens{4, sizeof(kScript) - 1, 1};
    int argc = 3;
    for (size_t i = 0; i < n; ++i) {
      const std::string* key = &checks[i].limit->key;
      if (!checks[i].client.empty()) {
        client_keys[i].reserve(key->size() + checks[i].client.size());
        client_keys[i].append(*key).append(checks[i].client);
        key = &client_keys[i];
      }
      argv[argc] = key->data();
      lens[argc++] = key->size();
    }
    for (size_t i = 0; i < n; ++i) {
      const Limit& l = *checks[i].limit;
      argv[argc] = l.interval_us.data();
      lens[argc++] = l.interval_us.size();
      argv[argc] = l.tolerance_us.data();
      lens[argc++] = l.tolerance_us.size();
    }
    // hiredis calls OnReply exactly once for every command it accepts: it owns this reference.
    auto* held = new std::shared_ptr<Request>(request);
    if (redisAsyncCommandArgv(ac_, &Connection::OnReply, held, argc, argv.data(), lens.data()) !=
        REDIS_OK) {
      delete held;
      return Fail(std::move(request));
    }
  }

 private:
  struct Request {
    explicit Request(asio::io_context& ioc) : timer(ioc) {}
    asio::steady_timer timer;
    RedisLimiter::Decided done;  // null once decided
  };

  // Redis cannot be asked (down, retry not due): on_error at once, later on this thread.
  void Fail(std::shared_ptr<Request> request) {
    owner_.Observe(false);
    asio::post(ioc_, [self = shared_from_this(), request = std::move(request)] {
      self->Finish(*request, Verdict::kUnavailable);
    });
  }

  void Finish(Request& r, Verdict verdict) {
    if (r.done == nullptr) return;
    RedisLimiter::Decided done = std::move(r.done);
    r.done = nullptr;
    r.timer.cancel();
    done(verdict);
  }

  static void OnReply(redisAsyncContext* ac, void* reply_ptr, void* privdata) {
    std::unique_ptr<std::shared_ptr<Request>> held(
        static_cast<std::shared_ptr<Request>*>(privdata));
    Request& request = **held;
    auto* self = ac->ev.data != nullptr ? static_cast<Connection*>(ac->ev.data) : nullptr;
    auto* reply = static_cast<redisReply*>(reply_ptr);
    Verdict verdict = Verdict::kUnavailable;
    if (reply != nullptr && reply->type == REDIS_REPLY_INTEGER) {
      verdict = reply->integer == 0   ? Verdict::kAdmit
                : reply->integer == 1 ? Verdict::kFirstRefused
                                      : Verdict::kSecondRefused;
    } else if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
      log::Warn("[sluice/cluster-ratelimit] Redis: {}", std::string(reply->str, reply->len));
    }
    // Without `self` the connection is being destroyed with the process's event loops: the
    // requests waiting on it are gone too.
    if (self != nullptr) {
      self->owner_.Observe(verdict != Verdict::kUnavailable);
      self->Finish(request, verdict);
    }
  }

  // Starts connecting (commands queue meanwhile); false when a retry is not due yet.
  bool Connect() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_attempt_) return false;
    next_attempt_ = now + kRetryEvery;
    redisAsyncContext* ac = redisAsyncConnect(config_.host.c_str(), config_.port);
    if (ac == nullptr) return false;
    if (ac->err != 0) {
      log::Debug("[sluice/cluster-ratelimit] connect {}:{}: {}", config_.host, config_.port,
                 ac->errstr);
      redisAsyncFree(ac);
      return false;
    }
    ac_ = ac;
    ac->ev.data = this;
    ac->ev.addRead = [](void* p) {
      if (p != nullptr) static_cast<Connection*>(p)->Want(true, true);
    };
    ac->ev.delRead = [](void* p) {
      if (p != nullptr) static_cast<Connection*>(p)->Want(true, false);
    };
    ac->ev.addWrite = [](void* p) {
      if (p != nullptr) static_cast<Connection*>(p)->Want(false, true);
    };
    ac->ev.delWrite = [](void* p) {
      if (p != nullptr) static_cast<Connection*>(p)->Want(false, false);
    };
    ac->ev.cleanup = [](void* p) {
      if (p != nullptr) static_cast<Connection*>(p)->Detach();
    };
    redisAsyncSetConnectCallback(ac, [](const redisAsyncContext* c, int status) {
      if (status != REDIS_OK && c->ev.data != nullptr) {
        static_cast<Connection*>(c->ev.data)->owner_.Observe(false);
      }
    });
    redisAsyncSetDisconnectCallback(ac, [](const redisAsyncContext* c, int status) {
      if (status != REDIS_OK && c->ev.data != nullptr) {
        static_cast<Connection*>(c->ev.data)->owner_.Observe(false);
      }
    });
    socket_ = std::make_unique<asio::posix::stream_descriptor>(ioc_, ac->c.fd);
    ++generation_;
    return true;
  }

  // hiredis frees the context (after an error, a disconnect, or a failed connect): forget it;
  // its descriptor is closed by hiredis, not by Asio.
  void Detach() {
    want_read_ = want_write_ = false;
    ac_ = nullptr;
    ++generation_;
    if (socket_) {
      socket_->release();  // cancels the waits; the handlers see a new generation
      socket_.reset();
    }
  }

  void Want(bool read, bool on) {
    (read ? want_read_ : want_write_) = on;
    if (on) Arm(read);
  }

  void Arm(bool read) {
    bool& armed = read ? read_armed_ : write_armed_;
    if (armed || !socket_) return;
    armed = true;
    socket_->async_wait(
        read ? asio::posix::descriptor_base::wait_read : asio::posix::descriptor_base::wait_write,
        [self = shared_from_this(), read, gen = generation_](boost::system::error_code ec) {
          (read ? self->read_armed_ : self->write_armed_) = false;
          if (ec || gen != self->generation_ || self->ac_ == nullptr) return;
          if (read ? self->want_read_ : self->want_write_) {
            if (read) {
              redisAsyncHandleRead(self->ac_);
            } else {
              redisAsyncHandleWrite(self->ac_);
            }
          }
          if (gen == self->generation_ && (read ? self->want_read_ : self->want_write_)) {
            self->Arm(read);
          }
        });
  }

  asio::io_context& ioc_;
  RedisLimiter& owner_;
  const Config& config_;
  redisAsyncContext* ac_ = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> socket_;
  uint64_t generation_ = 0;
  bool want_read_ = false, want_write_ = false;
  bool read_armed_ = false, write_armed_ = false;
  std::chrono::steady_clock::time_point next_attempt_{};
};

RedisLimiter::RedisLimiter(const Config& config, int workers, metrics::Registry* registry)
    : config_(config), registry_(registry), connections_(static_cast<size_t>(workers)) {
  if (registry_ != nullptr) registry_->set_redis_up(-1);
}

RedisLimiter::~RedisLimiter() = default;

std::shared_ptr<RedisLimiter> RedisLimiter::For(const Config& config, int workers,
                                                metrics::Registry* registry) {
  // One limiter per distinct setting, kept for the process's life: its connections live on the
  // workers' loops, and a configuration reload (which refuses to change this namespace) keeps
  // using the same one.
  static absl::Mutex mu(absl::kConstInit);
  static auto* limiters = new std::map<std::string, std::shared_ptr<RedisLimiter>>();
  const std::string key =
      absl::StrCat(config.host, ":", config.port, "|", config.prefix, "|",
                   absl::FormatDuration(config.timeout), "|",
                   config.allow_on_error ? "allow" : "deny", "|", workers, "|",
                   reinterpret_cast<uintptr_t>(registry));
  absl::MutexLock lock(&mu);
  std::shared_ptr<RedisLimiter>& limiter = (*limiters)[key];
  if (limiter == nullptr) limiter = std::make_shared<RedisLimiter>(config, workers, registry);
  return limiter;
}

Limit::Limit(std::string key, int64_t interval, int64_t tolerance)
    : key(std::move(key)),
      interval_us(std::to_string(std::max<int64_t>(1, interval))),
      tolerance_us(std::to_string(std::max<int64_t>(0, tolerance))) {}

void RedisLimiter::Decide(const backend::CallContext& call, absl::Span<const Check> checks,
                          Decided done) {
  std::shared_ptr<Connection>& conn = connections_[static_cast<size_t>(call.worker)];
  if (conn == nullptr) conn = std::make_shared<Connection>(*call.ioc, *this, config_);
  conn->Decide(checks, std::move(done));
}

void RedisLimiter::Observe(bool up) {
  const int now = up ? 1 : 0;
  // Every decision reports; only a change writes the line the workers share.
  if (state_.load(std::memory_order_relaxed) == now) return;
  if (state_.exchange(now, std::memory_order_relaxed) == now) return;
  if (registry_ != nullptr) registry_->set_redis_up(now);
  if (up) {
    log::Info("[sluice/cluster-ratelimit] Redis {}:{} is up: limits are cluster-wide", config_.host,
              config_.port);
  } else {
    log::Warn(
        "[sluice/cluster-ratelimit] Redis {}:{} is down or slow (>{}): requests are {} until "
        "it answers",
        config_.host, config_.port, absl::FormatDuration(config_.timeout),
        config_.allow_on_error ? "ALLOWED (on_error: allow)" : "refused 503 (on_error: deny)");
  }
}

void RedisLimiter::CountFallback() {
  if (registry_ != nullptr) registry_->count_redis_fallback();
}

}  // namespace sluice::components::clusterlimit
