#include "gateway/metrics/registry.h"

#include <atomic>
#include <memory>
#include <thread>

#include "gtest/gtest.h"

namespace sluice::metrics {
namespace {

config::ServiceConfig TwoEndpoints() {
  config::ServiceConfig c;
  config::Endpoint a;
  a.method = "GET";
  a.path = "/a/{id}";
  config::Backend b1;
  b1.url_pattern = "/x/{id}";
  config::HostAddress h;
  h.original = "http://127.0.0.1:1";
  b1.hosts.push_back(h);
  a.backends.push_back(b1);
  config::Endpoint b = a;
  b.method = "POST";
  b.path = "/b";
  b.backends[0].url_pattern = "/y";
  b.backends.push_back(b.backends[0]);
  b.backends[1].url_pattern = "/z";
  c.endpoints = {a, b};
  return c;
}

TEST(RegistryTest, LabelsFollowConfigOrder) {
  Registry r(1, TwoEndpoints());
  Snapshot s = r.Read();
  ASSERT_EQ(s.endpoints.size(), 2u);
  EXPECT_EQ(s.endpoints[0].method, "GET");
  EXPECT_EQ(s.endpoints[0].path, "/a/{id}");
  EXPECT_EQ(s.endpoints[1].path, "/b");
  ASSERT_EQ(s.backends.size(), 3u);
  EXPECT_EQ(s.backends[0].url_pattern, "/x/{id}");
  EXPECT_EQ(s.backends[1].endpoint_path, "/b");
  EXPECT_EQ(s.backends[2].url_pattern, "/z");
  EXPECT_EQ(s.backends[2].hosts, std::vector<std::string>{"http://127.0.0.1:1"});
}

TEST(RegistryTest, SumsEveryWorkersCounters) {
  Registry r(3, TwoEndpoints());
  // Each worker writes its own block from its own thread, as in the gateway.
  std::vector<std::thread> threads;
  for (int w = 0; w < 3; ++w) {
    threads.emplace_back([&r, w] {
      for (int i = 0; i < 1000; ++i) {
        EndpointStats& e = r.endpoint(w, 1);
        e.requests[1].Add();  // 2xx
        e.bytes_out.Add(10);
        e.latency.Observe(0.003);
      }
      r.endpoint(w, 0).requests[4].Add();  // one 5xx
      r.endpoint(w, 0).in_flight.Add(1);
      r.backend(w, 2).calls.Add(5);
      r.backend(w, 2).failures[2].Add();
    });
  }
  for (auto& t : threads) t.join();
  Snapshot s = r.Read();
  EXPECT_EQ(s.endpoints[1].requests_by_class[1], 3000u);
  EXPECT_EQ(s.endpoints[1].bytes_out, 30000u);
  EXPECT_EQ(s.endpoints[1].latency.count, 3000u);
  EXPECT_NEAR(s.endpoints[1].latency.sum_seconds, 9.0, 1e-6);
  EXPECT_EQ(s.endpoints[0].requests_by_class[4], 3u);
  EXPECT_EQ(s.endpoints[0].in_flight, 3);
  EXPECT_EQ(s.backends[2].calls, 15u);
  EXPECT_EQ(s.backends[2].failures[2], 3u);
  EXPECT_EQ(s.backends[0].calls, 0u);
}

// A reloaded configuration: what it keeps keeps its slot and counters, what is new gets a new
// slot, what is gone is no longer listed; nothing changes until Activate.
TEST(RegistryTest, AReloadKeepsTheCountersOfWhatStays) {
  Registry r(1, TwoEndpoints());
  r.endpoint(0, 1).requests[1].Add(7);  // POST /b
  r.backend(0, 2).calls.Add(3);         // POST /b's second backend (/z)
  config::ServiceConfig next = TwoEndpoints();
  next.endpoints.erase(next.endpoints.begin());       // GET /a/{id} gone
  next.endpoints[0].backends[0].url_pattern = "/y2";  // /b's first backend changed
  config::Endpoint added = next.endpoints[0];
  added.path = "/c";
  next.endpoints.push_back(added);
  Slots slots = r.Register(next).value();
  EXPECT_EQ(slots.endpoints, (std::vector<int>{1, 2}));
  EXPECT_EQ(slots.backends, (std::vector<int>{3, 2, 4, 5}));
  EXPECT_EQ(r.Read().endpoints.size(), 2u) << "not listed before Activate";
  r.mark_cached(5);
  r.Activate(slots);
  Snapshot s = r.Read();
  ASSERT_EQ(s.endpoints.size(), 2u);
  EXPECT_EQ(s.endpoints[0].path, "/b");
  EXPECT_EQ(s.endpoints[0].requests_by_class[1], 7u);
  EXPECT_EQ(s.endpoints[1].path, "/c");
  EXPECT_EQ(s.endpoints[1].requests_by_class[1], 0u);
  ASSERT_EQ(s.backends.size(), 4u);
  EXPECT_EQ(s.backends[0].url_pattern, "/y2");
  EXPECT_EQ(s.backends[0].calls, 0u);
  EXPECT_EQ(s.backends[1].url_pattern, "/z");
  EXPECT_EQ(s.backends[1].calls, 3u);
  EXPECT_FALSE(s.backends[1].has_cache);
  EXPECT_TRUE(s.backends[3].has_cache);
  // Back to the first: its slots again, /a's counters where they were.
  r.endpoint(0, 0).requests[4].Add(2);
  Slots again = r.Register(TwoEndpoints()).value();
  EXPECT_EQ(again.endpoints, (std::vector<int>{0, 1}));
  EXPECT_EQ(again.backends, (std::vector<int>{0, 1, 2}));
  r.Activate(again);
  EXPECT_EQ(r.Read().endpoints[0].requests_by_class[4], 2u);
  EXPECT_FALSE(r.Read().backends[2].has_cache);
}

// More slots than one chunk: counters in later chunks are as reachable as the first's.
TEST(RegistryTest, SlotsBeyondTheFirstChunk) {
  config::ServiceConfig big = TwoEndpoints();
  for (int i = 0; i < 600; ++i) {
    config::Endpoint e = big.endpoints[0];
    e.path = "/e" + std::to_string(i);
    big.endpoints.push_back(e);
  }
  Registry r(2, big);
  r.endpoint(1, 601).requests[1].Add(5);
  r.backend(0, 602).calls.Add(4);
  Snapshot s = r.Read();
  ASSERT_EQ(s.endpoints.size(), 602u);
  EXPECT_EQ(s.endpoints[601].requests_by_class[1], 5u);
  EXPECT_EQ(s.backends[602].calls, 4u);
}

// A breaker's state is listed while its configuration is live: a reload that fails keeps the
// live breaker's, one whose backend has no breaker lists none, and a replaced breaker that
// still changes (its last calls ending) is no longer read.
TEST(RegistryTest, ABreakerIsListedOnlyWhileItsConfigurationIsLive) {
  Registry r(1);
  auto state = [](int value) { return std::make_shared<std::atomic<int>>(value); };
  Slots slots = r.Register(TwoEndpoints()).value();
  const int id = slots.backends[1];
  auto first = state(kBreakerOpen);
  r.set_breaker(id, first);
  EXPECT_TRUE(r.Read().backends.empty());  // nothing live yet
  r.Activate(slots);
  EXPECT_EQ(r.Read().backends[0].breaker_state, kNoBreaker);
  EXPECT_EQ(r.Read().backends[1].breaker_state, kBreakerOpen);

  slots = r.Register(TwoEndpoints()).value();  // a reload that then fails
  r.set_breaker(id, state(kBreakerClosed));
  EXPECT_EQ(r.Read().backends[1].breaker_state, kBreakerOpen);

  slots = r.Register(TwoEndpoints()).value();  // a reload with a new breaker
  auto second = state(kBreakerClosed);
  r.set_breaker(id, second);
  r.Activate(slots);
  first->store(kBreakerHalfOpen);
  EXPECT_EQ(r.Read().backends[1].breaker_state, kBreakerClosed);
  second->store(kBreakerOpen);
  EXPECT_EQ(r.Read().backends[1].breaker_state, kBreakerOpen);

  r.Activate(r.Register(TwoEndpoints()).value());  // a reload without it
  EXPECT_EQ(r.Read().backends[1].breaker_state, kNoBreaker);
}

TEST(HistogramTest, BucketsAreUpperBoundsInclusive) {
  Histogram h;
  h.Observe(0.0005);  // exactly the first bound
  h.Observe(0.0006);
  h.Observe(100);  // beyond the last bound: +Inf
  EXPECT_EQ(h.buckets[0].Get(), 1u);
  EXPECT_EQ(h.buckets[1].Get(), 1u);
  EXPECT_EQ(h.buckets[kLatencyBuckets.size()].Get(), 1u);
}

TEST(HistogramTest, QuantilesInterpolateInsideBuckets) {
  HistogramSnapshot s;
  EXPECT_EQ(s.Quantile(0.5), 0);
  // 100 observations spread over the (0.001, 0.0025] bucket.
  s.buckets[2] = 100;
  s.count = 100;
  EXPECT_NEAR(s.Quantile(0.5), 0.00175, 1e-9);
  EXPECT_NEAR(s.Quantile(0.99), 0.001 + 0.0015 * 0.99, 1e-9);
  s.buckets[kLatencyBuckets.size()] = 100;  // as many beyond 10 s
  s.count = 200;
  EXPECT_EQ(s.Quantile(0.99), kLatencyBuckets.back());
}

TEST(RegistryTest, LastErrorOfTheMostRecentFailureWins) {
  Registry r(2, TwoEndpoints());
  {
    BackendStats& b = r.backend(0, 0);
    absl::MutexLock lock(&b.mu);
    b.last_error = "timeout: old";
    b.last_failure_unix_ms = 1000;
  }
  {
    BackendStats& b = r.backend(1, 0);
    absl::MutexLock lock(&b.mu);
    b.last_error = "connect: refused";
    b.last_failure_unix_ms = 2000;
  }
  r.backend(0, 0).last_success_unix_ms = 3000;
  Snapshot s = r.Read();
  EXPECT_EQ(s.backends[0].last_error, "connect: refused");
  EXPECT_EQ(s.backends[0].last_failure_unix_ms, 2000);
  EXPECT_EQ(s.backends[0].last_success_unix_ms, 3000);
}

}  // namespace
}  // namespace sluice::metrics
