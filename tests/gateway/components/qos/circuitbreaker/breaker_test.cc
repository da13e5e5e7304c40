// qos/circuit-breaker: gobreaker's state machine on a clock the test sets, and the check errors
// (the behaviour through the binary is in tests/integration/breaker_test.cc).

#include "gateway/components/qos/circuitbreaker/breaker.h"

#include <atomic>
#include <string>

#include "gateway/components/registry.h"
#include "gtest/gtest.h"

namespace sluice::components::circuitbreaker {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kStart = 1'000 * kSecond;

Config Make(int64_t interval, int64_t timeout, int64_t max_errors) {
  Config c;
  c.interval_s = interval;
  c.timeout_s = timeout;
  c.max_errors = max_errors;
  return c;
}

// One call at `now` that ends with `success`; false when the breaker refused it.
bool Call(Breaker& b, int64_t now, bool success) {
  uint64_t generation = 0;
  if (!b.Before(now, &generation)) return false;
  b.After(generation, success, now);
  return true;
}

TEST(BreakerTest, OpensWhenConsecutiveFailuresExceedMaxErrors) {
  Breaker b(Make(60, 10, 2), "/x", kStart);
  EXPECT_TRUE(Call(b, kStart, false));
  EXPECT_TRUE(Call(b, kStart, false));
  EXPECT_EQ(b.state(kStart), State::kClosed);  // 2 failures do not exceed 2
  EXPECT_TRUE(Call(b, kStart, false));
  EXPECT_EQ(b.state(kStart), State::kOpen);
  EXPECT_FALSE(Call(b, kStart + 9 * kSecond, true));  // open: refused without a call
}

TEST(BreakerTest, ASuccessResetsTheCountAndTheIntervalClearsIt) {
  Breaker b(Make(60, 10, 1), "/x", kStart);
  EXPECT_TRUE(Call(b, kStart, false));
  EXPECT_TRUE(Call(b, kStart, true));
  EXPECT_TRUE(Call(b, kStart, false));
  EXPECT_EQ(b.state(kStart), State::kClosed);
  // A new interval: the failure before it no longer counts.
  EXPECT_TRUE(Call(b, kStart + 61 * kSecond, false));
  EXPECT_EQ(b.state(kStart + 61 * kSecond), State::kClosed);
  EXPECT_TRUE(Call(b, kStart + 61 * kSecond, false));
  EXPECT_EQ(b.state(kStart + 61 * kSecond), State::kOpen);
}

TEST(BreakerTest, HalfOpenLetsOneCallThroughAndItDecides) {
  Breaker b(Make(0, 10, 0), "/x", kStart);
  EXPECT_TRUE(Call(b, kStart, false));
  EXPECT_EQ(b.state(kStart), State::kOpen);
  const int64_t later = kStart + 10 * kSecond;
  EXPECT_EQ(b.state(later), State::kHalfOpen);
  uint64_t probe = 0, other = 0;
  ASSERT_TRUE(b.Before(later, &probe));
  EXPECT_FALSE(b.Before(later, &other));  // one at a time
  b.After(probe, false, later);           // the probe failed: open again
  EXPECT_EQ(b.state(later), State::kOpen);
  const int64_t again = later + 10 * kSecond;
  EXPECT_TRUE(Call(b, again, true));  // the probe succeeded: closed
  EXPECT_EQ(b.state(again), State::kClosed);
  EXPECT_TRUE(Call(b, again, true));
}

TEST(BreakerTest, OutcomesOfAnOlderGenerationAreIgnored) {
  Breaker b(Make(0, 10, 0), "/x", kStart);
  uint64_t slow = 0;
  ASSERT_TRUE(b.Before(kStart, &slow));  // a call starts, then another one trips the breaker
  EXPECT_TRUE(Call(b, kStart, false));
  EXPECT_EQ(b.state(kStart), State::kOpen);
  b.After(slow, true, kStart);  // its success belongs to the closed state that ended
  EXPECT_EQ(b.state(kStart), State::kOpen);
}

config::LoadResult Load(const std::string& breaker) {
  return components::ParseConfig(
      R"({"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host":
          ["http://127.0.0.1:1"], "url_pattern": "/a", "extra_config": {"qos/circuit-breaker": )" +
          breaker + "}}]}]}",
      "cb.json", [](const char*) { return std::optional<std::string>(); });
}

// Each breaker writes its own state for metrics, at every change: one a reload builds never
// touches the live one's (the registry lists a breaker only once its configuration is live).
TEST(BreakerTest, EachBreakerPublishesItsOwnState) {
  Breaker live(Make(60, 10, 0), "/x", kStart);
  const auto published = live.published();
  EXPECT_EQ(published->load(), static_cast<int>(State::kClosed));
  EXPECT_TRUE(Call(live, kStart, false));
  EXPECT_EQ(published->load(), static_cast<int>(State::kOpen));
  Breaker rebuilt(Make(60, 10, 0), "/x", kStart);
  EXPECT_EQ(rebuilt.published()->load(), static_cast<int>(State::kClosed));
  EXPECT_EQ(published->load(), static_cast<int>(State::kOpen));
  EXPECT_FALSE(Call(live, kStart + 1, true));  // open: refused
  EXPECT_EQ(live.state(kStart + 10 * kSecond), State::kHalfOpen);
  EXPECT_EQ(published->load(), static_cast<int>(State::kHalfOpen));
}

TEST(BreakerConfigTest, KeysParseAndBadValuesAreRefusedByPath) {
  config::LoadResult ok = Load(R"({"interval": 60, "timeout": "10s", "max_errors": 3,
      "name": "users", "log_status_change": true})");
  ASSERT_TRUE(ok.errors.empty()) << ok.errors[0].message;
  const auto* c = ok.config->endpoints[0].backends[0].components.Get<Config>(kNamespace);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->interval_s, 60);
  EXPECT_EQ(c->timeout_s, 10);
  EXPECT_EQ(c->max_errors, 3);
  EXPECT_EQ(c->name, "users");
  EXPECT_TRUE(c->log_status_change);
  EXPECT_TRUE(c->enabled);

  const std::string at = "endpoints[0].backend[0].extra_config.qos/circuit-breaker";
  for (const char* bad : {R"({"max_errors": -1})", R"({"interval": -5, "max_errors": 1})",
                          R"({"timeout": "soon", "max_errors": 1})"}) {
    config::LoadResult r = Load(bad);
    ASSERT_FALSE(r.errors.empty()) << bad;
    EXPECT_EQ(r.errors[0].path.rfind(at, 0), 0u) << r.errors[0].path;
  }
  config::LoadResult off = Load(R"({"interval": 0, "timeout": 0, "max_errors": 0})");
  ASSERT_TRUE(off.errors.empty());
  ASSERT_FALSE(off.warnings.empty());
  EXPECT_NE(off.warnings[0].message.find("the breaker is off"), std::string::npos);
}

}  // namespace
}  // namespace sluice::components::circuitbreaker
