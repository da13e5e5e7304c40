// qos/ratelimit/router: the token bucket's arithmetic on a clock the test sets, the bound on
// client buckets, and the check errors by JSON path (the behaviour through the binary is in
// tests/integration/ratelimit_test.cc).

#include <string>

#include "gateway/components/qos/ratelimit/bucket.h"
#include "gateway/components/qos/ratelimit/router.h"
#include "gateway/components/registry.h"
#include "gtest/gtest.h"

namespace sluice::components::ratelimit {
namespace {

constexpr Nanos kSecond = 1'000'000'000;
constexpr Nanos kStart = 1'000 * kSecond;  // a steady clock is far from 0

TEST(BucketTest, StartsFullThenAdmitsOneTokenPerInterval) {
  Bucket bucket(MakeRate(10, kSecond, 3));  // 10 per second, capacity 3
  EXPECT_TRUE(bucket.Take(kStart));
  EXPECT_TRUE(bucket.Take(kStart));
  EXPECT_TRUE(bucket.Take(kStart));
  EXPECT_FALSE(bucket.Take(kStart));                 // spent
  EXPECT_FALSE(bucket.Take(kStart + kSecond / 20));  // half an interval later: not yet
  EXPECT_TRUE(bucket.Take(kStart + kSecond / 10));   // one interval: one token
  EXPECT_FALSE(bucket.Take(kStart + kSecond / 10));
  EXPECT_TRUE(bucket.Take(kStart + 10 * kSecond));  // long at rest: full again, no more
  EXPECT_TRUE(bucket.Take(kStart + 10 * kSecond));
  EXPECT_TRUE(bucket.Take(kStart + 10 * kSecond));
  EXPECT_FALSE(bucket.Take(kStart + 10 * kSecond));
}

TEST(BucketTest, AdmitsTheRateOverTimePlusTheCapacity) {
  Bucket bucket(MakeRate(100, kSecond, 100));
  int admitted = 0;
  // 10 s of one attempt every 100 us (100,000 attempts).
  for (Nanos t = 0; t < 10 * kSecond; t += kSecond / 10'000) admitted += bucket.Take(kStart + t);
  EXPECT_EQ(admitted, 100 + 1000 - 1);  // the full bucket, then 100/s for 10 s
}

TEST(BucketTest, FractionalRates) {
  Bucket bucket(MakeRate(0.5, kSecond, 1));  // one every 2 s
  EXPECT_TRUE(bucket.Take(kStart));
  EXPECT_FALSE(bucket.Take(kStart + kSecond));
  EXPECT_TRUE(bucket.Take(kStart + 2 * kSecond));
}

TEST(ClientBucketsTest, ClientsAreIndependent) {
  ClientBuckets clients(MakeRate(1, kSecond, 2));
  EXPECT_TRUE(clients.Take("alice", kStart));
  EXPECT_TRUE(clients.Take("alice", kStart));
  EXPECT_FALSE(clients.Take("alice", kStart));
  EXPECT_TRUE(clients.Take("bob", kStart));
  EXPECT_TRUE(clients.Take("alice", kStart + kSecond));
}

TEST(ClientBucketsTest, AFloodOfDistinctKeysStaysBoundedAndKeepsBusyClientsLimited) {
  ClientBuckets clients(MakeRate(1, 60 * kSecond, 1));  // one per minute: buckets stay busy
  EXPECT_TRUE(clients.Take("victim", kStart));
  EXPECT_FALSE(clients.Take("victim", kStart));
  for (int i = 0; i < 300'000; ++i) clients.Take("key-" + std::to_string(i), kStart + i);
  EXPECT_LE(clients.size(), ClientBuckets::kMaxClients);
  // Buckets at rest are dropped first, and losslessly: a client whose bucket refilled is a new
  // client with a full bucket either way.
  ClientBuckets resting(MakeRate(1000, kSecond, 1));
  for (int i = 0; i < 200'000; ++i) resting.Take("k" + std::to_string(i), kStart + i * kSecond);
  EXPECT_LE(resting.size(), ClientBuckets::kMaxClients);
}

config::LoadResult Load(const std::string& limit, const std::string& where = "endpoint") {
  const std::string component = R"("extra_config": {"qos/ratelimit/router": )" + limit + "}";
  const std::string endpoint =
      R"({"endpoint": "/a", )" + (where == "endpoint" ? component + ", " : std::string()) +
      R"("backend": [{"host": ["http://127.0.0.1:1"], "url_pattern": "/a")" +
      (where == "backend" ? ", " + component : std::string()) + "}]}";
  return components::ParseConfig(R"({"version": 3, "endpoints": [)" + endpoint + "]}", "limit.json",
                                 [](const char*) { return std::optional<std::string>(); });
}

std::string Errors(const config::LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.path + ": " + e.message + "\n";
  return out;
}

TEST(RouterConfigTest, KeysParseIntoTheTypedConfig) {
  config::LoadResult r = Load(R"({"max_rate": 50, "capacity": 10, "client_max_rate": 2.5,
      "client_capacity": 4, "every": "1m", "strategy": "header", "key": "X-User"})");
  ASSERT_TRUE(r.errors.empty()) << Errors(r);
  const auto* c = r.config->endpoints[0].components.Get<RouterConfig>(kRouterNamespace);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->max_rate, 50);
  EXPECT_EQ(c->capacity, 10);
  EXPECT_EQ(c->client_max_rate, 2.5);
  EXPECT_EQ(c->client_capacity, 4);
  EXPECT_EQ(c->every, 60 * kSecond);
  EXPECT_EQ(c->strategy, Strategy::kHeader);
  EXPECT_EQ(c->key, "X-User");
}

TEST(RouterConfigTest, WhatCannotBeEnforcedIsRefusedByPath) {
  const std::string at = "endpoints[0].extra_config.qos/ratelimit/router";
  struct Case {
    const char* json;
    std::string error;
  } cases[] = {
      {R"({})", at + ": sets neither max_rate nor client_max_rate above 0"},
      {R"({"maxRate": 10})", at + ": sets neither max_rate nor client_max_rate above 0"},
      {R"({"max_rate": -1})", at + ".max_rate: must be between 0"},
      {R"({"max_rate": "ten"})", at + ".max_rate"},
      {R"({"client_max_rate": 1, "strategy": "cookie"})", at + ".strategy: unknown strategy"},
      {R"({"client_max_rate": 1, "strategy": "header"})", at + ".key: is required"},
      {R"({"max_rate": 1, "capacity": -2})", at + ".capacity"},
  };
  for (const Case& c : cases) {
    config::LoadResult r = Load(c.json);
    EXPECT_NE(Errors(r).find(c.error), std::string::npos) << c.json << "\n" << Errors(r);
  }
  config::LoadResult backend = Load(R"({"max_rate": 1})", "backend");
  EXPECT_NE(Errors(backend).find("applies to an endpoint"), std::string::npos) << Errors(backend);
}

}  // namespace
}  // namespace sluice::components::ratelimit
