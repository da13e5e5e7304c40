// security/cors in a real browser: headless Chromium loads a page from one origin (a test server
// on 127.0.0.1) whose script calls Sluice on another origin with fetch(): a simple request, a
// preflighted one, one with credentials, one asking for a header the policy does not allow, and
// one to a gateway that does not allow the page's origin. The test asserts what the browser let
// the page read and what it blocked, and what reached the backend.

#include <iostream>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

std::string Gateway(const std::string& backend, const std::string& origin) {
  return R"({"version": 3, "extra_config": {"telemetry/logging": {"level": "WARNING"},
      "security/cors": {"allow_origins": [")" +
         origin + R"("], "allow_methods": ["GET", "PUT"],
        "allow_headers": ["X-Custom", "Content-Type"], "expose_headers": ["X-Backend"],
        "allow_credentials": true, "max_age": "1h"}},
    "endpoints": [
      {"endpoint": "/a", "output_encoding": "no-op",
       "backend": [{"host": [")" +
         backend + R"("], "url_pattern": "/a", "encoding": "no-op"}]},
      {"endpoint": "/a", "method": "PUT", "output_encoding": "no-op",
       "input_headers": ["X-Custom", "Content-Type"],
       "backend": [{"host": [")" +
         backend + R"("], "url_pattern": "/a", "encoding": "no-op"}]}]})";
}

// The page: each fetch's outcome (status, or "blocked" when the browser refused it) as JSON in
// <pre id="out">.
std::string Page(uint16_t gateway, uint16_t other) {
  const std::string gw = "http://127.0.0.1:" + std::to_string(gateway);
  const std::string deny = "http://127.0.0.1:" + std::to_string(other);
  return R"(<html><body><pre id="out">pending</pre><script>
async function attempt(out, name, url, init, read) {
  try {
    const r = await fetch(url, init);
    out[name] = read ? await read(r) : r.status;
  } catch (e) {
    out[name] = 'blocked';
  }
}
async function run() {
  const out = {};
  await attempt(out, 'simple', ')" +
         gw + R"(/a', {}, async r => r.status + ' ' + (await r.text()) + ' ' +
      r.headers.get('X-Backend'));
  await attempt(out, 'preflighted', ')" +
         gw + R"(/a', {method: 'PUT',
      headers: {'X-Custom': 'yes', 'Content-Type': 'application/json'}, body: '{}'});
  await attempt(out, 'credentials', ')" +
         gw + R"(/a', {credentials: 'include'});
  await attempt(out, 'bad_header', ')" +
         gw + R"(/a', {method: 'PUT', headers: {'X-Forbidden': 'yes'}});
  await attempt(out, 'other_origin', ')" +
         deny + R"(/a', {});
  document.getElementById('out').textContent = JSON.stringify(out);
}
run();
</script></body></html>)";
}

TEST(CorsBrowserTest, ChromiumAllowsAndBlocksWhatThePolicySays) {
  const std::string chromium = Which("chromium");
  ASSERT_FALSE(chromium.empty()) << "chromium not found: run tools/setup";
  TestBackend backend([](const Request& req) {
    Response res = TestBackend::Json(R"({"method":")" + std::string(req.method_string()) + R"("})");
    res.set("X-Backend", "seen");
    return res;
  });
  uint16_t gateway_port = 0, other_port = 0;
  std::string page;
  TestBackend site([&](const Request&) {
    Response res(boost::beast::http::status::ok, 11);
    res.set(boost::beast::http::field::content_type, "text/html; charset=utf-8");
    res.body() = page;
    return res;
  });
  SluiceProcess gw(Gateway(backend.url(), site.url()));
  SluiceProcess other(Gateway(backend.url(), "http://elsewhere.example"));
  gateway_port = gw.port();
  other_port = other.port();
  page = Page(gateway_port, other_port);

  CommandResult r =
      RunCommand({chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--virtual-time-budget=10000", "--dump-dom", site.url() + "/page.html"},
                 std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const size_t open = r.out.find("<pre id=\"out\">");
  const size_t close = r.out.find("</pre>", open);
  ASSERT_NE(open, std::string::npos) << r.out;
  const std::string text = r.out.substr(open + 14, close - open - 14);
  nlohmann::json out = nlohmann::json::parse(text, nullptr, false);
  ASSERT_TRUE(out.is_object()) << text;
  std::cerr << "what the page could read: " << text << "\n";
  EXPECT_EQ(out["simple"], R"(200 {"method":"GET"} seen)") << "readable, X-Backend exposed";
  EXPECT_EQ(out["preflighted"], 200) << "PUT with a custom header passes its preflight";
  EXPECT_EQ(out["credentials"], 200) << "credentials allowed: the origin is echoed, not *";
  EXPECT_EQ(out["bad_header"], "blocked") << "the preflight refuses X-Forbidden";
  EXPECT_EQ(out["other_origin"], "blocked") << "a gateway that does not allow this origin";
  // What reached the backend: the simple GET, the preflighted PUT, the credentialed GET, and the
  // other gateway's GET (a simple request is sent; only reading it is blocked). Never the PUT
  // whose preflight failed, and never an OPTIONS (the gateway answers preflights itself).
  size_t puts = 0, options = 0;
  for (const Request& req : backend.requests()) {
    puts += req.method() == boost::beast::http::verb::put;
    options += req.method() == boost::beast::http::verb::options;
  }
  EXPECT_EQ(puts, 1u);
  EXPECT_EQ(options, 0u);
  EXPECT_EQ(backend.request_count(), 4u);
}

}  // namespace
}  // namespace sluice::testing
