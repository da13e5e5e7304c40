// RemoteKeys (gateway/components/auth/validator/keys.h) against a real HTTP server on
// 127.0.0.1 serving a JWK Set.

#include "gateway/components/auth/validator/keys.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "boost/asio/io_context.hpp"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::components::auth {
namespace {

using sluice::testing::Eventually;
using sluice::testing::Request;
using sluice::testing::Response;
using sluice::testing::TestBackend;

// A token checked against no set (or an older one) while a fetch was finishing must be checked
// again against the set that fetch installed, not refused for the cooldown that fetch started:
// the first request after start used to get 401 so when it lost that race.
TEST(RemoteKeysTest, ACallerWhoLookedBeforeAFetchEndedIsToldToLookAgain) {
  TestBackend idp([](const Request&) {
    Response res = TestBackend::Json(R"({"keys": [{"kty": "oct", "kid": "a", "k": "c2VjcmV0"}]})");
    res.set("Content-Type", "application/jwk-set+json");
    return res;
  });
  RemoteKeys::Options options;
  options.url = idp.url() + "/jwks";
  options.cooldown = absl::Seconds(60);  // no second fetch in this test
  auto keys = RemoteKeys::For(options);
  ASSERT_NE(keys, nullptr);
  ASSERT_TRUE(Eventually([&] { return keys->Current() != nullptr; }));
  boost::asio::io_context ioc;
  bool called = false;
  // Seen: nothing (it looked before the first fetch installed its set).
  EXPECT_TRUE(keys->Refresh(ioc, nullptr, [&] { called = true; }));
  ioc.run_for(std::chrono::seconds(5));
  EXPECT_TRUE(called);
  // Seen: the set in force. Inside the cooldown: no fetch, no call.
  called = false;
  EXPECT_FALSE(keys->Refresh(ioc, keys->Current(), [&] { called = true; }));
  ioc.restart();
  ioc.run_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(called);
  EXPECT_EQ(idp.request_count(), 1u);
}

// A provider that does not answer must not hold whoever drops the last owner of its keys (a
// reload replacing the configuration, on the main thread or a worker) until the fetch's timeout.
TEST(RemoteKeysTest, DroppingTheKeysEndsAFetchInFlightAtOnce) {
  std::atomic<bool> asked{false};
  std::atomic<bool> release{false};
  TestBackend idp([&](const Request&) {
    asked = true;
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!release && std::chrono::steady_clock::now() < limit) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return TestBackend::Json(R"({"keys": []})");
  });
  RemoteKeys::Options options;
  options.url = idp.url() + "/jwks";
  options.timeout = absl::Seconds(15);
  auto keys = RemoteKeys::For(options);
  ASSERT_NE(keys, nullptr);
  ASSERT_TRUE(Eventually([&] { return asked.load(); }));
  const auto start = std::chrono::steady_clock::now();
  keys.reset();
  const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count();
  release = true;
  EXPECT_LT(took_ms, 2000);
}

}  // namespace
}  // namespace sluice::components::auth
