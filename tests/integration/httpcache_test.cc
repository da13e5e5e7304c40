// qos/http-cache through the real binary and a real backend: fresh answers come from the cache
// (the backend's request counter proves it) with an Age header; no-store is never cached; a stale
// answer is revalidated with its ETag and a 304 serves it; Vary keeps one client's variant from
// another; max_items bounds the store; `shared` stores make one cache for several endpoints;
// hits, revalidations and misses are counted in Prometheus.

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

namespace bhttp = boost::beast::http;

std::string HttpDate() {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now(), absl::UTCTimeZone());
}

// Every path answers with a Date, so freshness is computed as KrakenD's cache computes it.
Response Route(const Request& req) {
  const std::string target(req.target());
  Response res(bhttp::status::ok, 11);
  res.set(bhttp::field::date, HttpDate());
  res.set(bhttp::field::content_type, "application/json");
  if (target.rfind("/fresh", 0) == 0 || target.rfind("/items/", 0) == 0) {
    res.set(bhttp::field::cache_control, "public, max-age=60");
    res.body() = R"({"path": ")" + target + R"(", "at": )" +
                 std::to_string(absl::ToUnixNanos(absl::Now())) + "}";
  } else if (target == "/nostore") {
    res.set(bhttp::field::cache_control, "no-store, max-age=60");
    res.body() = R"({"nostore": true})";
  } else if (target == "/etag") {
    res.set(bhttp::field::cache_control, "max-age=2");
    res.set(bhttp::field::etag, "\"v1\"");
    if (req[bhttp::field::if_none_match] == "\"v1\"") {
      res.result(bhttp::status::not_modified);
      res.erase(bhttp::field::content_type);
    } else {
      res.body() = R"({"version": 1})";
    }
  } else if (target == "/vary") {
    res.set(bhttp::field::cache_control, "max-age=60");
    res.set(bhttp::field::vary, "X-Lang");
    res.body() = R"({"lang": ")" + std::string(req["X-Lang"]) + R"("})";
  } else {
    res.result(bhttp::status::not_found);
  }
  return res;
}

std::string Endpoint(const std::string& path, const std::string& backend_url,
                     const std::string& url_pattern, const std::string& cache,
                     const std::string& extra = "") {
  return R"({"endpoint": ")" + path + R"(", )" + extra + R"("backend": [{"host": [")" +
         backend_url + R"("], "url_pattern": ")" + url_pattern +
         R"(", "extra_config": {"qos/http-cache": )" + cache + "}}]}";
}

std::string Service(const std::string& endpoints) {
  return R"({"version": 3, "extra_config": {
      "sluice/admin": {"address": "127.0.0.1:0", "metrics_address": "127.0.0.1:0"}},
      "endpoints": [)" +
         endpoints + "]}";
}

TEST(HttpCacheTest, FreshAnswersComeFromTheCacheWithAge) {
  TestBackend backend(&Route);
  SluiceProcess gw(
      Service(Endpoint("/raw", backend.url(), "/fresh", "{}", R"("output_encoding": "no-op", )") +
              "," + Endpoint("/json", backend.url(), "/fresh?json", "{}")));
  Response first = Fetch(gw.port(), "GET", "/raw");
  ASSERT_EQ(first.result_int(), 200u);
  EXPECT_EQ(first.count("Age"), 0u);  // from the backend, not the cache
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  for (int i = 0; i < 4; ++i) {
    Response again = Fetch(gw.port(), "GET", "/raw");
    EXPECT_EQ(again.body(), first.body());
    EXPECT_GE(std::stoi(std::string(again["Age"])), 1);
  }
  EXPECT_EQ(backend.request_count(), 1u);
  // A rendering endpoint: the same answer, decoded again from the cached bytes.
  const std::string json = Fetch(gw.port(), "GET", "/json").body();
  EXPECT_EQ(Fetch(gw.port(), "GET", "/json").body(), json);
  EXPECT_EQ(backend.request_count(), 2u);
  const std::string page = MetricsPage(gw);
  EXPECT_EQ(Sample(page, "sluice_backend_http_cache_total", {"/raw", "result=\"hit\""}), 4) << page;
  EXPECT_EQ(Sample(page, "sluice_backend_http_cache_total", {"/raw", "result=\"miss\""}), 1);
  EXPECT_EQ(Sample(page, "sluice_backend_http_cache_total", {"/json", "result=\"hit\""}), 1);
}

TEST(HttpCacheTest, NoStoreIsNeverCached) {
  TestBackend backend(&Route);
  SluiceProcess gw(Service(Endpoint("/n", backend.url(), "/nostore", "{}")));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Fetch(gw.port(), "GET", "/n").result_int(), 200u);
  EXPECT_EQ(backend.request_count(), 3u);
}

TEST(HttpCacheTest, StaleAnswerIsRevalidatedByItsETag) {
  TestBackend backend(&Route);
  SluiceProcess gw(Service(Endpoint("/e", backend.url(), "/etag", "{}")));
  EXPECT_EQ(Fetch(gw.port(), "GET", "/e").body(), R"({"version":1})");
  EXPECT_EQ(Fetch(gw.port(), "GET", "/e").body(), R"({"version":1})");
  EXPECT_EQ(backend.request_count(),
            1u);  // fresh for max-age=2 (at least 1 s: Date has whole seconds)
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  Response revalidated = Fetch(gw.port(), "GET", "/e");
  EXPECT_EQ(revalidated.result_int(), 200u);
  EXPECT_EQ(revalidated.body(), R"({"version":1})");
  ASSERT_EQ(backend.request_count(), 2u);
  EXPECT_EQ(backend.last_request()[bhttp::field::if_none_match], "\"v1\"");
  // The 304 refreshed the entry's Date: fresh again.
  EXPECT_EQ(Fetch(gw.port(), "GET", "/e").body(), R"({"version":1})");
  EXPECT_EQ(backend.request_count(), 2u);
}

TEST(HttpCacheTest, VaryNeverServesOneVariantToAnother) {
  TestBackend backend(&Route);
  SluiceProcess gw(
      Service(Endpoint("/v", backend.url(), "/vary", "{}", R"("input_headers": ["X-Lang"], )")));
  auto get = [&](const char* lang) {
    return Fetch(gw.port(), "GET", "/v", {{"X-Lang", lang}}).body();
  };
  EXPECT_EQ(get("en"), R"({"lang":"en"})");
  EXPECT_EQ(get("en"), R"({"lang":"en"})");
  EXPECT_EQ(backend.request_count(), 1u);
  EXPECT_EQ(get("fr"), R"({"lang":"fr"})");  // not the cached "en"
  EXPECT_EQ(get("fr"), R"({"lang":"fr"})");
  EXPECT_EQ(backend.request_count(), 2u);
  EXPECT_EQ(get("en"), R"({"lang":"en"})");
}

TEST(HttpCacheTest, MaxItemsBoundsTheStoreAndSharedStoresServeSeveralEndpoints) {
  TestBackend backend(&Route);
  const std::string bounded = R"({"max_items": 2, "max_size": 1048576})";
  SluiceProcess gw(Service(Endpoint("/i/{n}", backend.url(), "/items/{n}", bounded) + "," +
                           Endpoint("/s1", backend.url(), "/fresh/shared", R"({"shared": true})") +
                           "," +
                           Endpoint("/s2", backend.url(), "/fresh/shared", R"({"shared": true})")));
  for (const char* n : {"1", "2", "3"}) {
    EXPECT_EQ(Fetch(gw.port(), "GET", std::string("/i/") + n).result_int(), 200u);
  }
  Fetch(gw.port(), "GET", "/i/3");  // still there
  EXPECT_EQ(backend.request_count(), 3u);
  Fetch(gw.port(), "GET", "/i/1");  // evicted: the least recently used of three with room for 2
  EXPECT_EQ(backend.request_count(), 4u);

  EXPECT_EQ(Fetch(gw.port(), "GET", "/s1").body(), Fetch(gw.port(), "GET", "/s2").body());
  EXPECT_EQ(backend.request_count(), 5u);  // one call for both endpoints
}

TEST(HttpCacheTest, CheckBoundsAnUnboundedCacheAndSaysSo) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string file = std::string(tmp ? tmp : "/tmp") + "/httpcache.json";
  std::ofstream(file) << Service(Endpoint("/x", "http://127.0.0.1:1", "/x", "{\"max_items\": 5}"));
  CommandResult r = RunSluice({"check", "-c", file});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE((r.out + r.err)
                .find("KrakenD's cache grows without bound; Sluice bounds it at 5 "
                      "items and 67108864 bytes"),
            std::string::npos)
      << r.out << r.err;
  // On a gRPC backend it can do nothing, and says so.
  std::ofstream(file) << Service(
      R"({"endpoint": "/g", "backend": [{"host": ["127.0.0.1:1"], "url_pattern": "/pkg.S/M",
          "extra_config": {"backend/grpc": {}, "qos/http-cache": {"max_items": 5,
          "max_size": 4096}}}]})");
  r = RunSluice({"check", "-c", file});
  EXPECT_NE(r.err.find("\"qos/http-cache\": warning: has no effect on a gRPC backend"),
            std::string::npos)
      << r.out << r.err;
  std::ofstream(file) << Service(Endpoint("/x", "http://127.0.0.1:1", "/x", "{\"max_size\": 10}"));
  r = RunSluice({"check", "-c", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("max_size"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sluice::testing
