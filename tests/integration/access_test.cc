// End-to-end tests of the access components (security/cors) through the real sluice binary:
// real clients (raw HTTP/1.1 and nghttp over h2c) and a real backend on 127.0.0.1.

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

std::string Header(const Response& r, const std::string& name) {
  auto it = r.find(name);
  return it == r.end() ? "<absent>" : std::string(it->value());
}

// One GET endpoint /users/{id} (and a POST /private guarded by nothing but a 401 backend), with
// `cors` as the service's security/cors object.
std::string CorsConfig(const std::string& backend_url, const std::string& cors, bool h2c = false) {
  return std::string(R"({"version": 3, "use_h2c": )") + (h2c ? "true" : "false") +
         R"(, "extra_config": {"sluice/http": {"workers": 2},
      "telemetry/logging": {"level": "WARNING"}, "security/cors": )" +
         cors + R"(},
    "endpoints": [
      {"endpoint": "/users/{id}", "backend": [{"host": [")" +
         backend_url +
         R"("], "url_pattern": "/u/{id}"}]},
      {"endpoint": "/denied", "backend": [{"host": [")" +
         backend_url + R"("], "url_pattern": "/denied"}]}]})";
}

TestBackend::HandlerFn Backend() {
  return [](const Request& req) {
    if (req.target() == "/denied") return TestBackend::Json(R"({"error":"no"})", 401);
    Response res = TestBackend::Json(R"({"id":1})");
    res.set("X-Trace", "t1");
    res.set("Access-Control-Allow-Origin", "https://evil.example");  // the gateway's must win
    return res;
  };
}

const char* kListed = R"({"allow_origins": ["https://app.example", "https://*.corp.example"],
    "allow_methods": ["GET", "POST"], "allow_headers": ["Authorization", "Content-Type"],
    "expose_headers": ["x-trace"], "max_age": "12h", "allow_credentials": true,
    "allow_private_network": true})";

TEST(CorsTest, PreflightAnsweredByTheGatewayAsKrakenD) {
  TestBackend backend(Backend());
  SluiceProcess gw(CorsConfig(backend.url(), kListed));
  for (const char* path : {"/users/1", "/no/endpoint/here"}) {
    Response res = Fetch(gw.port(), "OPTIONS", path,
                         {{"Origin", "https://App.example"},
                          {"Access-Control-Request-Method", "post"},
                          {"Access-Control-Request-Headers", "content-type, authorization"},
                          {"Access-Control-Request-Private-Network", "true"}});
    EXPECT_EQ(res.result_int(), 204u) << path;
    EXPECT_EQ(Header(res, "Access-Control-Allow-Origin"), "https://App.example");
    EXPECT_EQ(Header(res, "Access-Control-Allow-Methods"), "POST");
    EXPECT_EQ(Header(res, "Access-Control-Allow-Headers"), "content-type, authorization");
    EXPECT_EQ(Header(res, "Access-Control-Allow-Credentials"), "true");
    EXPECT_EQ(Header(res, "Access-Control-Max-Age"), "43200");
    EXPECT_EQ(Header(res, "Access-Control-Allow-Private-Network"), "true");
    EXPECT_EQ(Header(res, "Vary"),
              "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
              "Access-Control-Request-Private-Network");
    EXPECT_EQ(res.body(), "");
  }
  Response wildcard =
      Fetch(gw.port(), "OPTIONS", "/users/1",
            {{"Origin", "https://a.b.corp.example"}, {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(Header(wildcard, "Access-Control-Allow-Origin"), "https://a.b.corp.example");
  EXPECT_EQ(Header(wildcard, "Access-Control-Allow-Headers"), "<absent>");
  EXPECT_EQ(backend.request_count(), 0u) << "a preflight never reaches a backend";
}

TEST(CorsTest, RefusedPreflightIs204WithVaryOnly) {
  TestBackend backend(Backend());
  SluiceProcess gw(CorsConfig(backend.url(), kListed));
  const std::vector<std::vector<std::pair<std::string, std::string>>> refused = {
      {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "GET"}},
      {{"Origin", "https://corp.example"}, {"Access-Control-Request-Method", "GET"}},
      {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "DELETE"}},
      {{"Origin", "https://app.example"},
       {"Access-Control-Request-Method", "GET"},
       {"Access-Control-Request-Headers", "x-secret"}},
      {{"Access-Control-Request-Method", "GET"}},
  };
  for (const auto& headers : refused) {
    Response res = Fetch(gw.port(), "OPTIONS", "/users/1", headers);
    EXPECT_EQ(res.result_int(), 204u);
    EXPECT_EQ(Header(res, "Access-Control-Allow-Origin"), "<absent>") << headers[0].second;
    EXPECT_EQ(Header(res, "Access-Control-Allow-Methods"), "<absent>");
    EXPECT_NE(Header(res, "Vary"), "<absent>");
  }
}

TEST(CorsTest, ActualRequestsAndErrorAnswersCarryTheHeaders) {
  TestBackend backend(Backend());
  SluiceProcess gw(CorsConfig(backend.url(), kListed));
  Response ok = Fetch(gw.port(), "GET", "/users/1", {{"Origin", "https://app.example"}});
  EXPECT_EQ(ok.result_int(), 200u);
  EXPECT_EQ(Header(ok, "Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(Header(ok, "Access-Control-Expose-Headers"), "X-Trace");
  EXPECT_EQ(Header(ok, "Access-Control-Allow-Credentials"), "true");
  EXPECT_EQ(Header(ok, "Vary"), "Origin");
  for (const char* path : {"/nope", "/denied"}) {
    Response err = Fetch(gw.port(), "GET", path, {{"Origin", "https://x.corp.example"}});
    EXPECT_GE(err.result_int(), 400u) << path;
    EXPECT_EQ(Header(err, "Access-Control-Allow-Origin"), "https://x.corp.example") << path;
  }
  Response evil = Fetch(gw.port(), "GET", "/users/1", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(evil.result_int(), 200u) << "CORS never blocks; the browser does";
  EXPECT_EQ(Header(evil, "Access-Control-Allow-Origin"), "<absent>")
      << "the backend's own Allow-Origin is dropped";
  Response plain = Fetch(gw.port(), "GET", "/users/1");
  EXPECT_EQ(Header(plain, "Access-Control-Allow-Origin"), "<absent>");
  EXPECT_EQ(Header(plain, "Vary"), "Origin");
}

TEST(CorsTest, DefaultsAllowEveryOriginWithAStar) {
  TestBackend backend(Backend());
  SluiceProcess gw(CorsConfig(backend.url(), "{}"));
  Response pre = Fetch(gw.port(), "OPTIONS", "/users/1",
                       {{"Origin", "https://any.example"},
                        {"Access-Control-Request-Method", "HEAD"},
                        {"Access-Control-Request-Headers", "x-anything"}});
  EXPECT_EQ(pre.result_int(), 204u);
  EXPECT_EQ(Header(pre, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(Header(pre, "Access-Control-Allow-Headers"), "x-anything");
  EXPECT_EQ(Header(pre, "Access-Control-Max-Age"), "<absent>");
  Response put =
      Fetch(gw.port(), "OPTIONS", "/users/1",
            {{"Origin", "https://any.example"}, {"Access-Control-Request-Method", "PUT"}});
  EXPECT_EQ(Header(put, "Access-Control-Allow-Origin"), "<absent>") << "default GET POST HEAD";
}

TEST(CorsTest, OverH2c) {
  const std::string nghttp = Which("nghttp");
  ASSERT_FALSE(nghttp.empty()) << "nghttp comes from tools/setup (nghttp2-client)";
  TestBackend backend(Backend());
  SluiceProcess gw(CorsConfig(backend.url(), kListed, /*h2c=*/true));
  const std::string base = "http://127.0.0.1:" + std::to_string(gw.port());
  CommandResult pre =
      RunCommand({"nghttp", "-v", "-H", ":method: OPTIONS", "-H", "origin: https://app.example",
                  "-H", "access-control-request-method: GET", base + "/anywhere"});
  EXPECT_NE(pre.out.find(":status: 204"), std::string::npos) << pre.out;
  EXPECT_NE(pre.out.find("access-control-allow-origin: https://app.example"), std::string::npos);
  EXPECT_NE(pre.out.find("access-control-max-age: 43200"), std::string::npos);
  CommandResult get =
      RunCommand({"nghttp", "-v", "-H", "origin: https://app.example", base + "/users/1"});
  EXPECT_NE(get.out.find(":status: 200"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("access-control-allow-origin: https://app.example"), std::string::npos);
  EXPECT_NE(get.out.find("access-control-expose-headers: X-Trace"), std::string::npos);
}

std::string WriteConfig(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// ---------------------------------------------------------------------------------------------
// security/http

std::string SecureConfig(const std::string& backend_url, const std::string& secure) {
  return R"({"version": 3, "extra_config": {"sluice/http": {"workers": 2},
      "telemetry/logging": {"level": "WARNING"}, "security/http": )" +
         secure + R"(},
    "endpoints": [{"endpoint": "/users/{id}", "backend": [{"host": [")" +
         backend_url + R"("], "url_pattern": "/u/{id}"}]}]})";
}

TEST(HttpSecureTest, BadHostIs500AndHeadersOnEveryAnswer) {
  TestBackend backend(Backend());
  SluiceProcess gw(SecureConfig(backend.url(), R"({"allowed_hosts": ["api.example:8080"],
      "host_proxy_headers": ["X-Forwarded-Host"], "frame_deny": true,
      "content_type_nosniff": true, "browser_xss_filter": true, "referrer_policy": "same-origin",
      "content_security_policy": "default-src 'self'", "sts_seconds": 31536000,
      "sts_include_subdomains": true, "ssl_proxy_headers": {"X-Forwarded-Proto": "https"}})"));
  Response bad = Fetch(gw.port(), "GET", "/users/1", {{"Host", "evil.example"}});
  EXPECT_EQ(bad.result_int(), 500u);
  EXPECT_EQ(bad.body(), "Bad Host\n");
  EXPECT_EQ(Header(bad, "Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(backend.request_count(), 0u);
  Response ok = Fetch(gw.port(), "GET", "/users/1", {{"Host", "API.example:8080"}});
  EXPECT_EQ(ok.result_int(), 200u);
  EXPECT_EQ(Header(ok, "X-Frame-Options"), "DENY");
  EXPECT_EQ(Header(ok, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(Header(ok, "X-XSS-Protection"), "1; mode=block");
  EXPECT_EQ(Header(ok, "Referrer-Policy"), "same-origin");
  EXPECT_EQ(Header(ok, "Content-Security-Policy"), "default-src 'self'");
  EXPECT_EQ(Header(ok, "Strict-Transport-Security"), "<absent>") << "plain HTTP: no HSTS";
  Response proxied = Fetch(gw.port(), "GET", "/nope",
                           {{"Host", "10.0.0.1"},
                            {"X-Forwarded-Host", "api.example:8080"},
                            {"X-Forwarded-Proto", "https"}});
  EXPECT_EQ(proxied.result_int(), 404u);
  EXPECT_EQ(Header(proxied, "X-Frame-Options"), "DENY") << "errors carry the headers too";
  EXPECT_EQ(Header(proxied, "Strict-Transport-Security"), "max-age=31536000; includeSubDomains");
  Response health = Fetch(gw.port(), "GET", "/__health", {{"Host", "10.0.0.1"}});
  EXPECT_EQ(health.result_int(), 200u) << "health checks by IP are not refused";
}

TEST(HttpSecureTest, CheckRefusesWhatSluiceCannotHonour) {
  CommandResult r = RunSluice(
      {"check", "-c",
       WriteConfig("secure_bad.json",
                   R"({"version": 3, "extra_config": {"security/http": {"ssl_redirect": true,
                     "allowed_hosts_are_regex": true, "allowed_hosts": ["a.*"]}},
                     "endpoints": []})")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE((r.out + r.err).find("ssl_redirect"), std::string::npos) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("allowed_hosts_are_regex"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// security/bot-detector

TEST(BotDetectorTest, ServiceAndEndpointLevelsAnswer403) {
  TestBackend backend(Backend());
  SluiceProcess gw(R"({"version": 3, "extra_config": {"sluice/http": {"workers": 2},
      "telemetry/logging": {"level": "CRITICAL"},
      "security/bot-detector": {"deny": ["BadBot/1.0"], "cache_size": 100}},
    "endpoints": [
      {"endpoint": "/open/{id}", "backend": [{"host": [")" +
                   backend.url() +
                   R"j("], "url_pattern": "/u/{id}"}]},
      {"endpoint": "/strict/{id}", "extra_config": {"security/bot-detector": {
          "allow": ["Googlebot/2.1 (ok)"], "patterns": ["(?i)bot", "curl/\\d"],
          "empty_user_agent_is_bot": true}},
       "backend": [{"host": [")j" +
                   backend.url() + R"("], "url_pattern": "/u/{id}"}]}]})");
  struct Case {
    const char* path;
    const char* ua;  // nullptr: no User-Agent header
    unsigned status;
  };
  const Case cases[] = {
      {"/open/1", "BadBot/1.0", 403},    {"/nowhere", "BadBot/1.0", 403},
      {"/open/1", "SomeBot", 200},       {"/open/1", nullptr, 200},
      {"/strict/1", "SomeBot", 403},     {"/strict/1", "curl/8.1", 403},
      {"/strict/1", nullptr, 403},       {"/strict/1", "Googlebot/2.1 (ok)", 200},
      {"/strict/1", "Mozilla/5.0", 200}, {"/strict/1", "BadBot/1.0", 403},
  };
  for (const Case& c : cases) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (c.ua != nullptr) headers.emplace_back("User-Agent", c.ua);
    const size_t before = backend.request_count();
    Response res = Fetch(gw.port(), "GET", c.path, headers);
    EXPECT_EQ(res.result_int(), c.status) << c.path << " " << (c.ua ? c.ua : "<none>");
    if (c.status == 403) {
      EXPECT_EQ(res.body(), "");
      EXPECT_EQ(backend.request_count(), before) << "a bot reaches no backend";
    }
  }
}

TEST(BotDetectorTest, BadPatternRefusesTheConfig) {
  CommandResult r =
      RunSluice({"check", "-c",
                 WriteConfig("bots_bad.json",
                             R"({"version": 3, "extra_config": {"security/bot-detector":
                     {"patterns": ["ok", "a(b"]}}, "endpoints": []})")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE((r.out + r.err).find("patterns[1]"), std::string::npos) << r.out << r.err;
}

TEST(CorsTest, CheckRefusesWhatItCannotHonour) {
  // Endpoint-level CORS is KrakenD Enterprise: refused, not silently ignored.
  CommandResult endpoint =
      RunSluice({"check", "-c",
                 WriteConfig("cors_endpoint.json",
                             R"({"version": 3, "endpoints": [{"endpoint": "/a", "extra_config":
                     {"security/cors": {"allow_origins": ["https://a.example"]}},
                     "backend": [{"host": ["http://127.0.0.1:1"], "url_pattern": "/a"}]}]})")});
  EXPECT_EQ(endpoint.exit_code, 1) << endpoint.out << endpoint.err;
  EXPECT_NE((endpoint.out + endpoint.err).find("security/cors"), std::string::npos);
  CommandResult stars = RunSluice({"check", "-c",
                                   WriteConfig("cors_stars.json",
                                               R"({"version": 3, "extra_config": {"security/cors":
                     {"allow_origins": ["https://*.*.example"], "max_age": 12}},
                     "endpoints": []})")});
  EXPECT_EQ(stars.exit_code, 1);
  EXPECT_NE((stars.out + stars.err).find("allow_origins"), std::string::npos) << stars.err;
  EXPECT_NE((stars.out + stars.err).find("max_age"), std::string::npos) << stars.err;
}

}  // namespace
}  // namespace sluice::testing
