// RemoteKeys (gateway/components/auth/validator/keys.h) against a real HTTP server on
// 127.0.0.1 serving a JWK Set.

#include "gateway/components/auth/validator/keys.h"

#include <chrono>
#include <memory>

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

}  // namespace
}  // namespace sluice::components::auth
