// End-to-end tests of the data plane: the real sluice binary between a real HTTP client and real
// HTTP backends, all on 127.0.0.1 ephemeral ports. Assertions are on the bytes a client and a
// backend see.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "boost/asio/write.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/read.hpp"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

namespace bhttp = boost::beast::http;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string Header(const Request& r, const std::string& name) {
  auto it = r.find(name);
  return it == r.end() ? "<absent>" : std::string(it->value());
}
std::string Header(const Response& r, const std::string& name) {
  auto it = r.find(name);
  return it == r.end() ? "<absent>" : std::string(it->value());
}

// A v3 config with one endpoint; `endpoint_extra` and `backend_extra` are spliced in as JSON
// members (each ending with a comma when non-empty).
std::string OneEndpoint(const std::string& backend_url, const std::string& path,
                        const std::string& url_pattern, const std::string& endpoint_extra = "",
                        const std::string& backend_extra = "", const std::string& top_extra = "") {
  return R"({"version": 3, "name": "test", )" + top_extra +
         R"( "extra_config": {"sluice/http": {"workers": 2}, "telemetry/logging": {"level": "WARNING"}},
    "endpoints": [{"endpoint": ")" +
         path + R"(", )" + endpoint_extra + R"(
      "backend": [{)" +
         backend_extra + R"( "host": [")" + backend_url + R"("], "url_pattern": ")" + url_pattern +
         R"("}]}]})";
}

TestBackend::HandlerFn EchoTarget() {
  return [](const Request& req) {
    return TestBackend::Json(R"({"target":")" + std::string(req.target()) + R"("})");
  };
}

// ---------------------------------------------------------------------------------------------
// Built-in endpoints and routing

TEST(GatewayTest, HealthAnswersKrakenDShape) {
  TestBackend backend(EchoTarget());
  SluiceProcess gw(OneEndpoint(backend.url(), "/a", "/a"));
  Response res = Fetch(gw.port(), "GET", "/__health");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(Header(res, "Content-Type"), "application/json; charset=utf-8");
  std::regex shape(
      R"re(\{"agents":\{\},"now":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)","status":"ok"\})re");
  EXPECT_TRUE(std::regex_match(res.body(), shape)) << res.body();
}

TEST(GatewayTest, NotFoundAndMethodNotAllowedAsKrakenD) {
  TestBackend backend(EchoTarget());
  SluiceProcess gw(OneEndpoint(backend.url(), "/users/{id}", "/u/{id}"));
  Response missing = Fetch(gw.port(), "GET", "/nope");
  EXPECT_EQ(missing.result_int(), 404u);
  EXPECT_EQ(missing.body(), "404 page not found");
  EXPECT_EQ(Header(missing, "Content-Type"), "text/plain");  // gin's, without a charset
  Response wrong = Fetch(gw.port(), "DELETE", "/users/1");
  EXPECT_EQ(wrong.result_int(), 405u);
  EXPECT_EQ(wrong.body(), "405 method not allowed");
  EXPECT_EQ(Header(wrong, "Content-Type"), "text/plain");
  EXPECT_EQ(backend.request_count(), 0u);
}

// gin's RedirectTrailingSlash and RedirectFixedPath, on in KrakenD: a path one trailing slash,
// letter case or `//` away from a route is redirected to it (301 for GET, 307 otherwise), with
// Go's http.Redirect body for GET; the router keys turn them off.
TEST(GatewayTest, RouterRedirectsTrailingSlashAndCaseAsGin) {
  TestBackend backend(EchoTarget());
  const std::string endpoints = R"([
      {"endpoint": "/users/{id}", "backend": [{"host": [")" +
                                backend.url() +
                                R"("], "url_pattern": "/u"}]},
      {"endpoint": "/items", "method": "POST", "backend": [{"host": [")" +
                                backend.url() +
                                R"("], "url_pattern": "/i"}]},
      {"endpoint": "/Api/Things", "backend": [{"host": [")" +
                                backend.url() + R"("], "url_pattern": "/t"}]}])";
  SluiceProcess gw(R"({"version": 3, "endpoints": )" + endpoints + "}");
  Response slash = Fetch(gw.port(), "GET", "/users/7/?x=1");
  EXPECT_EQ(slash.result_int(), 301u);
  EXPECT_EQ(Header(slash, "Location"), "/users/7?x=1");
  EXPECT_EQ(Header(slash, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(slash.body(), "<a href=\"/users/7?x=1\">Moved Permanently</a>.\n\n");
  Response post = Fetch(gw.port(), "POST", "/items/");
  EXPECT_EQ(post.result_int(), 307u);
  EXPECT_EQ(Header(post, "Location"), "/items");
  EXPECT_EQ(post.body(), "");
  Response cased = Fetch(gw.port(), "GET", "/api/THINGS");
  EXPECT_EQ(cased.result_int(), 301u);
  EXPECT_EQ(Header(cased, "Location"), "/Api/Things");
  Response cleaned = Fetch(gw.port(), "GET", "//users/./7");
  EXPECT_EQ(cleaned.result_int(), 301u);
  EXPECT_EQ(Header(cleaned, "Location"), "/users/7");
  EXPECT_EQ(Fetch(gw.port(), "GET", "/nothing/here").result_int(), 404u);
  EXPECT_EQ(backend.request_count(), 0u);

  SluiceProcess off(R"({"version": 3, "extra_config": {"router": {
      "disable_redirect_trailing_slash": true, "disable_redirect_fixed_path": true}},
      "endpoints": )" +
                    endpoints + "}");
  EXPECT_EQ(Fetch(off.port(), "GET", "/users/7/").result_int(), 404u);
  EXPECT_EQ(Fetch(off.port(), "GET", "/api/things").result_int(), 404u);
}

// KrakenD 2.x dynamic routing: {input_headers.Name} and {input_query_strings.name} in url_pattern
// take the request's values (percent-encoded like any param); without one, 400 and no backend
// call.
TEST(GatewayTest, UrlPatternTakesHeaderAndQueryStringValues) {
  TestBackend backend(EchoTarget());
  SluiceProcess gw(
      OneEndpoint(backend.url(), "/dyn", "/t/{input_headers.X-Tenant}/q/{input_query_strings.id}"));
  Response ok = Fetch(gw.port(), "GET", "/dyn?id=4%202&other=x", {{"X-Tenant", "acme/eu"}});
  EXPECT_EQ(ok.result_int(), 200u) << gw.log();
  EXPECT_EQ(std::string(backend.last_request().target()), "/t/acme%2Feu/q/4%202");
  EXPECT_EQ(Fetch(gw.port(), "GET", "/dyn?id=1").result_int(), 400u) << "no X-Tenant";
  EXPECT_EQ(Fetch(gw.port(), "GET", "/dyn", {{"X-Tenant", "a"}}).result_int(), 400u) << "no id";
  EXPECT_EQ(backend.request_count(), 1u);
}

// A host with a scheme Sluice has no client for (ws://, amqp://...) loads under
// disable_host_sanitize, as in KrakenD: a warning at start, and that endpoint answers 501 while
// the others serve.
TEST(GatewayTest, OtherHostSchemesLoadAndAnswer501) {
  TestBackend backend(EchoTarget());
  SluiceProcess gw(R"({"version": 3, "endpoints": [
      {"endpoint": "/ws", "backend": [{"host": ["ws://127.0.0.1:9"], "url_pattern": "/x",
                                       "disable_host_sanitize": true}]},
      {"endpoint": "/ok", "backend": [{"host": [")" +
                   backend.url() + R"("], "url_pattern": "/ok"}]}]})");
  Response ws = Fetch(gw.port(), "GET", "/ws");
  EXPECT_EQ(ws.result_int(), 501u);
  EXPECT_EQ(ws.body(), "");
  EXPECT_EQ(Fetch(gw.port(), "GET", "/ok").result_int(), 200u);
  EXPECT_TRUE(gw.LogHas("Sluice has no client for ws://")) << gw.log();
  EXPECT_EQ(backend.request_count(), 1u);
}

// Go's transport sends "Content-Length: 0" on a body-less POST, PUT or PATCH; backends that
// require a length (411 otherwise) depend on it.
TEST(GatewayTest, BodylessPostPutPatchCarryContentLengthZero) {
  TestBackend backend(EchoTarget());
  for (const char* method : {"POST", "PUT", "PATCH"}) {
    SluiceProcess gw(
        OneEndpoint(backend.url(), "/m", "/m", std::string(R"("method": ")") + method + R"(",)"));
    ASSERT_EQ(Fetch(gw.port(), method, "/m").result_int(), 200u) << method;
    const Request seen = backend.last_request();
    EXPECT_EQ(std::string(seen.method_string()), method);
    ASSERT_NE(seen.find("Content-Length"), seen.end()) << method;
    EXPECT_EQ(std::string(seen["Content-Length"]), "0") << method;
  }
}

TEST(GatewayTest, CustomNotFoundAndMethodNotAllowedBodies) {
  TestBackend backend(EchoTarget());
  SluiceProcess gw(R"({"version": 3, "extra_config": {"router": {"error_body": {
      "404": {"error": "no such route", "code": 404}, "405": {"error": "wrong method"}}}},
      "endpoints": [{"endpoint": "/a", "backend": [{"host": [")" +
                   backend.url() + R"("], "url_pattern": "/a"}]}]})");
  Response missing = Fetch(gw.port(), "GET", "/nope");
  EXPECT_EQ(missing.result_int(), 404u);
  EXPECT_EQ(missing.body(), R"({"code":404,"error":"no such route"})");
  EXPECT_EQ(Header(missing, "Content-Type"), "application/json; charset=utf-8");
  Response wrong = Fetch(gw.port(), "POST", "/a");
  EXPECT_EQ(wrong.result_int(), 405u);
  EXPECT_EQ(wrong.body(), R"({"error":"wrong method"})");
}

TEST(GatewayTest, VersionHeaderUnlessHidden) {
  TestBackend backend(EchoTarget());
  {
    SluiceProcess gw(OneEndpoint(backend.url(), "/a", "/a"));
    EXPECT_EQ(Header(Fetch(gw.port(), "GET", "/a"), "X-Krakend"), "Sluice Version 0.1.0");
    EXPECT_EQ(Header(Fetch(gw.port(), "GET", "/nope"), "X-Krakend"), "Sluice Version 0.1.0");
  }
  SluiceProcess gw(R"({"version": 3, "extra_config": {"router": {"hide_version_header": true}},
      "endpoints": [{"endpoint": "/a", "backend": [{"host": [")" +
                   backend.url() + R"("], "url_pattern": "/a"}]}]})");
  EXPECT_EQ(Header(Fetch(gw.port(), "GET", "/a"), "X-Krakend"), "<absent>");
}

TEST(GatewayTest, LiteralSegmentWinsOverParam) {
  TestBackend backend(EchoTarget());
  std::string config = R"({"version": 3, "host": [")" + backend.url() + R"("], "endpoints": [
      {"endpoint": "/users/{id}", "backend": [{"url_pattern": "/by-id/{id}"}]},
      {"endpoint": "/users/search", "backend": [{"url_pattern": "/search"}]},
      {"endpoint": "/users/{id}/posts", "backend": [{"url_pattern": "/posts/{id}"}]}]})";
  SluiceProcess gw(config);
  EXPECT_EQ(Fetch(gw.port(), "GET", "/users/search").body(), R"({"target":"/search"})");
  EXPECT_EQ(Fetch(gw.port(), "GET", "/users/42").body(), R"({"target":"/by-id/42"})");
  EXPECT_EQ(Fetch(gw.port(), "GET", "/users/search/posts").body(), R"({"target":"/posts/search"})");
}

TEST(GatewayTest, DebugEndpointOnlyWithFlag) {
  TestBackend backend(EchoTarget());
  std::string config = OneEndpoint(backend.url(), "/a", "/a");
  {
    SluiceProcess gw(config);
    EXPECT_EQ(Fetch(gw.port(), "POST", "/__debug/anything", {}, "x").result_int(), 404u);
  }
  SluiceProcess gw(config, {"-d"});
  Response res = Fetch(gw.port(), "POST", "/__debug/some/path?q=1", {{"X-Probe", "1"}}, "hello");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"message":"pong"})");
  EXPECT_TRUE(Eventually([&] { return gw.log().find("X-Probe: 1") != std::string::npos; }))
      << gw.log();
}

// ---------------------------------------------------------------------------------------------
// Encodings and status policy

TEST(GatewayTest, JsonEncodingSortsKeysAndDropsBackendHeaders) {
  TestBackend backend([](const Request&) {
    Response res = TestBackend::Json(R"({ "b": 2, "a": {"y": 1, "x": [1, 2]}, "c": "ü" })");
    res.set("X-Backend-Secret", "s3cr3t");
    return res;
  });
  SluiceProcess gw(OneEndpoint(backend.url(), "/j", "/j", R"("cache_ttl": "300s",)"));
  Response res = Fetch(gw.port(), "GET", "/j");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"a":{"x":[1,2],"y":1},"b":2,"c":"ü"})");
  EXPECT_EQ(Header(res, "Content-Type"), "application/json; charset=utf-8");
  EXPECT_EQ(Header(res, "X-Krakend-Completed"), "true");
  EXPECT_EQ(Header(res, "Cache-Control"), "public, max-age=300");
  EXPECT_EQ(Header(res, "X-Backend-Secret"), "<absent>");
}

TEST(GatewayTest, JsonBackendErrorStatusBecomes500WithEmptyBody) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"error":"nope"})", 404); });
  SluiceProcess gw(OneEndpoint(backend.url(), "/j", "/j"));
  Response res = Fetch(gw.port(), "GET", "/j");
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_EQ(res.body(), "");
  EXPECT_EQ(Header(res, "X-Krakend-Completed"), "false");
}

TEST(GatewayTest, InvalidJsonFromBackendIsAFailure) {
  TestBackend backend([](const Request&) { return TestBackend::Json("[1,2]"); });
  SluiceProcess gw(OneEndpoint(backend.url(), "/j", "/j"));
  Response res = Fetch(gw.port(), "GET", "/j");
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_TRUE(Eventually([&] {
    return gw.log().find("expected a JSON object") != std::string::npos;
  })) << gw.log();
}

TEST(GatewayTest, NoOpPassesStatusHeadersAndBodyUnchanged) {
  TestBackend backend([](const Request&) {
    Response res(static_cast<bhttp::status>(418), 11);
    res.set("X-Custom", "kept");
    res.set(bhttp::field::content_type, "text/weird");
    res.set(bhttp::field::set_cookie, "a=b");
    res.body() = "raw <body> \x01 not json";
    return res;
  });
  SluiceProcess gw(OneEndpoint(backend.url(), "/raw", "/raw", R"("output_encoding": "no-op",)"));
  Response res = Fetch(gw.port(), "GET", "/raw");
  EXPECT_EQ(res.result_int(), 418u);
  EXPECT_EQ(res.body(), "raw <body> \x01 not json");
  EXPECT_EQ(Header(res, "X-Custom"), "kept");
  EXPECT_EQ(Header(res, "Content-Type"), "text/weird");
  EXPECT_EQ(Header(res, "Set-Cookie"), "a=b");
}

TEST(GatewayTest, HeadReturnsHeadersOfGetWithoutBody) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"k":"v"})"); });
  SluiceProcess gw(OneEndpoint(backend.url(), "/j", "/j"));
  Response res = Fetch(gw.port(), "HEAD", "/j");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(Header(res, "Content-Length"), "9");
  EXPECT_EQ(res.body(), "");
}

// ---------------------------------------------------------------------------------------------
// Forwarding: params, query strings, headers, bodies

TEST(GatewayTest, HostileParamValuesCannotChangePathQueryOrHeaders) {
  TestBackend backend(EchoTarget());
  SluiceProcess gw(OneEndpoint(backend.url(), "/users/{id}", "/u/{id}/profile"));
  Fetch(gw.port(), "GET", "/users/..%2F..%2Fadmin%3Fx=1%23frag");
  EXPECT_EQ(std::string(backend.last_request().target()),
            "/u/..%2F..%2Fadmin%3Fx%3D1%23frag/profile");
  Fetch(gw.port(), "GET", "/users/a%0D%0AX-Injected:%20yes");
  Request last = backend.last_request();
  EXPECT_EQ(std::string(last.target()), "/u/a%0D%0AX-Injected%3A%20yes/profile");
  EXPECT_EQ(Header(last, "X-Injected"), "<absent>");
  Fetch(gw.port(), "GET", "/users/%E2%9C%93%20ok");
  EXPECT_EQ(std::string(backend.last_request().target()), "/u/%E2%9C%93%20ok/profile");
}

TEST(GatewayTest, QueryStringsOnlyWhenAllowListed) {
  TestBackend backend(EchoTarget());
  {
    SluiceProcess gw(OneEndpoint(backend.url(), "/q", "/q"));
    Fetch(gw.port(), "GET", "/q?a=1&b=2");
    EXPECT_EQ(std::string(backend.last_request().target()), "/q");
  }
  {
    SluiceProcess gw(
        OneEndpoint(backend.url(), "/q", "/q", R"("input_query_strings": ["a", "b"],)"));
    Fetch(gw.port(), "GET", "/q?a=1&c=3&b=x%20y&a=4&A=5");
    EXPECT_EQ(std::string(backend.last_request().target()), "/q?a=1&b=x%20y&a=4");
  }
  {
    SluiceProcess gw(
        OneEndpoint(backend.url(), "/q", "/q?fixed=1", R"("input_query_strings": ["*"],)"));
    Fetch(gw.port(), "GET", "/q?z=9&y=8");
    EXPECT_EQ(std::string(backend.last_request().target()), "/q?fixed=1&z=9&y=8");
  }
}

TEST(GatewayTest, HeadersOnlyWhenAllowListedCaseInsensitive) {
  TestBackend backend(EchoTarget());
  {
    SluiceProcess gw(OneEndpoint(backend.url(), "/h", "/h", R"("input_headers": ["X-Api-Key"],)"));
    Fetch(gw.port(), "GET", "/h",
          {{"x-api-key", "k1"}, {"X-Other", "o"}, {"User-Agent", "curl/8"}, {"Cookie", "c=1"}});
    Request r = backend.last_request();
    EXPECT_EQ(Header(r, "X-Api-Key"), "k1");
    EXPECT_EQ(Header(r, "X-Other"), "<absent>");
    EXPECT_EQ(Header(r, "Cookie"), "<absent>");
    EXPECT_EQ(Header(r, "User-Agent"), "Sluice Version 0.1.0");
    EXPECT_EQ(Header(r, "X-Forwarded-For"), "127.0.0.1");
    EXPECT_EQ(Header(r, "X-Forwarded-Host"), "gateway.test");
    EXPECT_EQ(Header(r, "X-Forwarded-Via"), "<absent>");
  }
  {
    SluiceProcess gw(OneEndpoint(backend.url(), "/h", "/h", R"("input_headers": ["*"],)"));
    Fetch(gw.port(), "GET", "/h",
          {{"X-Other", "o"}, {"User-Agent", "curl/8"}, {"X-Forwarded-For", "6.6.6.6"}});
    Request r = backend.last_request();
    EXPECT_EQ(Header(r, "X-Other"), "o");
    EXPECT_EQ(Header(r, "User-Agent"), "curl/8");
    EXPECT_EQ(Header(r, "X-Forwarded-Via"), "Sluice Version 0.1.0");
    EXPECT_EQ(Header(r, "X-Forwarded-For"), "127.0.0.1");
  }
}

// A kept-alive connection parses each request into the storage of the one before (server.cc's
// ClearRequest): nothing of a request, small or large, may reach the next one's backend call.
TEST(GatewayTest, KeptAliveConnectionCarriesNothingOfTheLastRequest) {
  TestBackend backend([](const Request& req) {
    return TestBackend::Json(R"({"len":)" + std::to_string(req.body().size()) + "}");
  });
  SluiceProcess gw(R"({"version": 3, "name": "test", "endpoints": [
    {"endpoint": "/g", "input_headers": ["X-Api-Key", "X-Big"],
     "backend": [{"host": [")" +
                   backend.url() + R"("], "url_pattern": "/g"}]},
    {"endpoint": "/p", "method": "POST",
     "backend": [{"host": [")" +
                   backend.url() + R"("], "url_pattern": "/p"}]}]})");
  HttpClient client(gw.port());
  Request with_key(bhttp::verb::get, "/g", 11);
  with_key.set("X-Api-Key", "k1");
  EXPECT_EQ(client.Send(with_key).result_int(), 200u) << client.error();
  EXPECT_EQ(Header(backend.last_request(), "X-Api-Key"), "k1");
  EXPECT_EQ(client.Get("/g").result_int(), 200u) << client.error();
  EXPECT_EQ(Header(backend.last_request(), "X-Api-Key"), "<absent>");
  // A body and a head over the 4 KiB a connection keeps between requests.
  Request post(bhttp::verb::post, "/p", 11);
  post.body() = std::string(100 * 1024, 'b');
  EXPECT_EQ(client.Send(post).body(), R"({"len":102400})") << client.error();
  Request big_head(bhttp::verb::get, "/g", 11);
  big_head.set("X-Big", std::string(6000, 'h'));
  EXPECT_EQ(client.Send(big_head).body(), R"({"len":0})") << client.error();
  EXPECT_EQ(Header(backend.last_request(), "X-Big").size(), 6000u);
  EXPECT_EQ(client.Get("/g").body(), R"({"len":0})") << client.error();
  Request last = backend.last_request();
  EXPECT_EQ(last.method(), bhttp::verb::get);
  EXPECT_EQ(Header(last, "X-Big"), "<absent>");
  EXPECT_EQ(Header(last, "X-Api-Key"), "<absent>");
}

TEST(GatewayTest, PostBodyIsForwarded) {
  TestBackend backend(
      [](const Request& req) { return TestBackend::Json(R"({"got":)" + req.body() + "}", 201); });
  SluiceProcess gw(OneEndpoint(backend.url(), "/items", "/store", R"("method": "POST",)"));
  Response res = Fetch(gw.port(), "POST", "/items", {{"Content-Type", "application/json"}},
                       R"({"n":1,"s":"x"})");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"got":{"n":1,"s":"x"}})");
  Request r = backend.last_request();
  EXPECT_EQ(r.method(), bhttp::verb::post);
  EXPECT_EQ(r.body(), R"({"n":1,"s":"x"})");
  EXPECT_EQ(Header(r, "Content-Type"), "application/json");
}

TEST(GatewayTest, ChunkedRequestBodyIsReassembled) {
  TestBackend backend([](const Request& req) {
    return TestBackend::Json(R"({"len":)" + std::to_string(req.body().size()) + "}");
  });
  SluiceProcess gw(OneEndpoint(backend.url(), "/c", "/c", R"("method": "PUT",)"));
  std::string raw =
      "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  std::string out = RawExchange(gw.port(), raw);
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
  EXPECT_NE(out.find(R"({"len":11})"), std::string::npos) << out;
  EXPECT_EQ(backend.last_request().body(), "hello world");
}

TEST(GatewayTest, ExpectContinueGetsInterimResponseBeforeTheBody) {
  TestBackend backend([](const Request& req) {
    return TestBackend::Json(R"({"len":)" + std::to_string(req.body().size()) + "}");
  });
  SluiceProcess gw(OneEndpoint(backend.url(), "/up", "/up", R"("method": "POST",)"));
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), gw.port()});
  boost::asio::write(
      s, boost::asio::buffer(std::string("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                         "Expect: 100-continue\r\nConnection: close\r\n\r\n")));
  // Nothing of the body is sent until the gateway says continue (bounded wait).
  std::string got;
  char buf[256];
  s.non_blocking(true);
  auto deadline = steady_clock::now() + milliseconds(3000);
  while (got.find("\r\n\r\n") == std::string::npos && steady_clock::now() < deadline) {
    boost::system::error_code ec;
    size_t n = s.read_some(boost::asio::buffer(buf), ec);
    if (!ec) got.append(buf, n);
    std::this_thread::sleep_for(milliseconds(2));
  }
  s.non_blocking(false);
  EXPECT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
  boost::asio::write(s, boost::asio::buffer(std::string("hello")));
  boost::system::error_code ec;
  std::string rest;
  while (!ec) {
    size_t n = s.read_some(boost::asio::buffer(buf), ec);
    rest.append(buf, n);
  }
  EXPECT_EQ(rest.rfind("HTTP/1.1 200", 0), 0u) << rest;
  EXPECT_NE(rest.find(R"({"len":5})"), std::string::npos) << rest;
}

TEST(GatewayTest, PipelinedRequestsAnsweredInOrder) {
  TestBackend backend(EchoTarget());
  SluiceProcess gw(OneEndpoint(backend.url(), "/p/{n}", "/n/{n}"));
  std::string raw =
      "GET /p/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p/2 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /p/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  std::string out = RawExchange(gw.port(), raw);
  size_t a = out.find("/n/1"), b = out.find("/n/2"), c = out.find("/n/3");
  ASSERT_NE(c, std::string::npos) << out;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

// A keep-alive connection whose requests come one by one: once a short read has emptied the
// socket, Sluice reads again only when epoll reports bytes or a close (http/readiness.h). Neither
// may be missed: a request sent while the one before it is still being answered, nor a close sent
// together with the last request.

// Three requests one by one on `client`'s keep-alive connection (their short reads leave the
// socket marked drained), then reads on it bounded to 5 s (a lost request fails, not hangs).
void WarmUp(HttpClient& client) {
  for (const std::string n : {"a", "b", "c"}) {
    EXPECT_EQ(client.Get("/p/" + n).body(), R"({"target":"/n/)" + n + R"("})");
  }
  timeval patience{5, 0};
  setsockopt(client.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
}

Request GetOf(const std::string& target) { return Request(bhttp::verb::get, target, 11); }

TEST(GatewayTest, ARequestSentWhileTheLastIsAnsweredIsRead) {
  TestBackend backend([](const Request& req) {
    if (req.target() == "/n/slow") std::this_thread::sleep_for(milliseconds(300));
    return TestBackend::Json(R"({"target":")" + std::string(req.target()) + R"("})");
  });
  SluiceProcess gw(OneEndpoint(backend.url(), "/p/{n}", "/n/{n}"));
  HttpClient client(gw.port());
  WarmUp(client);
  ASSERT_TRUE(client.Write(GetOf("/p/slow"))) << client.error();
  std::this_thread::sleep_for(milliseconds(100));  // Sluice waits for the backend meanwhile
  ASSERT_TRUE(client.Write(GetOf("/p/d"))) << client.error();
  EXPECT_EQ(client.Read().body(), R"({"target":"/n/slow"})") << client.error();
  EXPECT_EQ(client.Read().body(), R"({"target":"/n/d"})") << client.error();
}

TEST(GatewayTest, AClientThatClosesWithItsLastRequestIsClosedAtOnce) {
  TestBackend backend(EchoTarget());
  SluiceProcess gw(OneEndpoint(backend.url(), "/p/{n}", "/n/{n}"));
  HttpClient client(gw.port());
  WarmUp(client);
  // Keep-alive, but the FIN comes in the request's own segment (held back by TCP_CORK until the
  // shutdown), so one epoll edge reports both.
  const int cork = 1;
  setsockopt(client.socket().native_handle(), IPPROTO_TCP, TCP_CORK, &cork, sizeof cork);
  ASSERT_TRUE(client.Write(GetOf("/p/d"))) << client.error();
  client.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send);
  EXPECT_EQ(client.Read().body(), R"({"target":"/n/d"})") << client.error();
  // Sluice sees the close now, not at the 90 s idle timeout.
  const auto start = steady_clock::now();
  EXPECT_EQ(ReadUntilClosed(client.socket(), milliseconds(3000)), "");
  EXPECT_LT(steady_clock::now() - start, milliseconds(2500));
}

// Keep-alive as the client's request says (HTTP/1.1 unless "close", HTTP/1.0 only with
// "keep-alive"), whichever reader took the request: bodyless GETs in the common form are read
// without Beast's parser (http::ParseSimpleRequestHead), the others with it.
TEST(GatewayTest, TheRequestDecidesWhetherTheConnectionStaysOpen) {
  TestBackend backend(EchoTarget());
  SluiceProcess gw(OneEndpoint(backend.url(), "/k", "/k"));
  struct Row {
    std::string request;
    bool stays_open;
  };
  const Row rows[] = {
      {"GET /k HTTP/1.1\r\nHost: x\r\n\r\n", true},
      {"GET /k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
      {"GET /k HTTP/1.0\r\nHost: x\r\n\r\n", false},
      {"GET /k HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET /k HTTP/1.1\r\nHost: x\r\nConnection: close, x-other\r\n\r\n", false},  // Beast
      {"GET /k HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n", false},           // Beast
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.request);
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket s(ioc);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), gw.port()});
    boost::asio::write(s, boost::asio::buffer(row.request));
    // Until the close, or 1 s: a connection kept open is still open then.
    const std::string out = ReadUntilClosed(s, std::chrono::milliseconds(1000));
    EXPECT_EQ(out.rfind("HTTP/1.1 200 OK", 0), 0u) << out;
    EXPECT_NE(out.find("/k"), std::string::npos) << out;
    pollfd p{s.native_handle(), POLLIN, 0};
    char byte = 0;
    const bool closed = poll(&p, 1, 0) == 1 && ::recv(s.native_handle(), &byte, 1, 0) <= 0;
    EXPECT_EQ(closed, !row.stays_open);
  }
}

TEST(GatewayTest, BackendRedirectsAreFollowed) {
  TestBackend backend([](const Request& req) {
    if (req.target() == "/old") {
      Response res(bhttp::status::found, 11);
      res.set(bhttp::field::location, "/new");
      return res;
    }
    return TestBackend::Json(R"({"at":")" + std::string(req.target()) + R"("})");
  });
  SluiceProcess gw(OneEndpoint(backend.url(), "/r", "/old"));
  Response res = Fetch(gw.port(), "GET", "/r");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"at":"/new"})");
}

// ---------------------------------------------------------------------------------------------
// Connections, failures, timeouts

TEST(GatewayTest, KeepAliveReusesFewBackendConnections) {
  TestBackend backend(EchoTarget());
  SluiceProcess gw(OneEndpoint(backend.url(), "/k", "/k"));
  HttpClient client(gw.port());
  for (int i = 0; i < 300; ++i) {
    Response res = client.Get("/k");
    ASSERT_EQ(res.result_int(), 200u) << client.error();
  }
  EXPECT_EQ(backend.request_count(), 300u);
  // One client connection lands on one worker, which keeps one pooled backend connection.
  EXPECT_EQ(backend.connections(), 1);
}

TEST(GatewayTest, RoundRobinOverHosts) {
  TestBackend a(EchoTarget()), b(EchoTarget());
  std::string config = R"({"version": 3, "endpoints": [{"endpoint": "/rr",
      "backend": [{"host": [")" +
                       a.url() + R"(", ")" + b.url() + R"("], "url_pattern": "/x"}]}]})";
  SluiceProcess gw(config);
  HttpClient client(gw.port());
  for (int i = 0; i < 10; ++i) ASSERT_EQ(client.Get("/rr").result_int(), 200u);
  EXPECT_EQ(a.request_count(), 5u);
  EXPECT_EQ(b.request_count(), 5u);
}

TEST(GatewayTest, BackendDownIsAnError) {
  const ClosedPort down;
  SluiceProcess gw(OneEndpoint(down.url(), "/d", "/d"));
  auto start = steady_clock::now();
  Response res = Fetch(gw.port(), "GET", "/d");
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_EQ(Header(res, "X-Krakend-Completed"), "false");
  EXPECT_LT(steady_clock::now() - start, milliseconds(1500));
  EXPECT_TRUE(Eventually([&] { return gw.log().find("connect") != std::string::npos; }));
}

TEST(GatewayTest, SlowBackendTimesOutAtEndpointTimeout) {
  TestBackend backend([](const Request&) {
    std::this_thread::sleep_for(milliseconds(2500));
    return TestBackend::Json("{}");
  });
  SluiceProcess gw(OneEndpoint(backend.url(), "/slow", "/slow", R"("timeout": "300ms",)"));
  auto start = steady_clock::now();
  Response res = Fetch(gw.port(), "GET", "/slow");
  auto took = steady_clock::now() - start;
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_GE(took, milliseconds(280));
  EXPECT_LT(took, milliseconds(2300));  // not the backend's 2500 ms
}

TEST(GatewayTest, AggregatesBackendsInDeclarationOrderWithPartialFailure) {
  TestBackend a([](const Request&) { return TestBackend::Json(R"({"a":1,"shared":"from-a"})"); });
  TestBackend b([](const Request&) { return TestBackend::Json(R"({"b":2,"shared":"from-b"})"); });
  TestBackend bad([](const Request&) { return TestBackend::Json("{}", 503); });
  auto config = [](const std::vector<std::string>& urls) {
    std::string backends;
    for (const auto& u : urls) {
      if (!backends.empty()) backends += ",";
      backends += R"({"host": [")" + u + R"("], "url_pattern": "/x"})";
    }
    return R"({"version": 3, "endpoints": [{"endpoint": "/agg", "cache_ttl": "60s", "backend": [)" +
           backends + "]}]}";
  };
  {
    SluiceProcess gw(config({a.url(), b.url()}));
    Response res = Fetch(gw.port(), "GET", "/agg");
    EXPECT_EQ(res.body(), R"({"a":1,"b":2,"shared":"from-b"})");
    EXPECT_EQ(Header(res, "X-Krakend-Completed"), "true");
    EXPECT_EQ(Header(res, "Cache-Control"), "public, max-age=60");
  }
  SluiceProcess gw(config({a.url(), bad.url()}));
  Response res = Fetch(gw.port(), "GET", "/agg");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"a":1,"shared":"from-a"})");
  EXPECT_EQ(Header(res, "X-Krakend-Completed"), "false");
  EXPECT_EQ(Header(res, "Cache-Control"), "<absent>");
}

// ---------------------------------------------------------------------------------------------
// Sequential proxy

std::string SequentialConfig(const std::string& first, const std::string& second) {
  return R"({"version": 3, "endpoints": [{"endpoint": "/seq/{id}",
      "extra_config": {"proxy": {"sequential": true}},
      "backend": [
        {"host": [")" +
         first + R"("], "url_pattern": "/users/{id}"},
        {"host": [")" +
         second +
         R"("], "url_pattern": "/companies/{resp0_company_id}/{resp0_meta.slug}?u={id}", "group": "company"}]}]})";
}

TEST(GatewayTest, SequentialBackendUsesTheFirstAnswer) {
  TestBackend users([](const Request&) {
    return TestBackend::Json(R"({"id":1,"company_id":7,"meta":{"slug":"acme co/x"}})");
  });
  TestBackend companies(EchoTarget());
  SluiceProcess gw(SequentialConfig(users.url(), companies.url()));
  Response res = Fetch(gw.port(), "GET", "/seq/1");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(std::string(companies.last_request().target()), "/companies/7/acme%20co%2Fx?u=1");
  EXPECT_EQ(res.body(),
            R"({"company":{"target":"/companies/7/acme%20co%2Fx?u=1"},"company_id":7,"id":1,)"
            R"("meta":{"slug":"acme co/x"}})");
  EXPECT_EQ(Header(res, "X-Krakend-Completed"), "true");
}

TEST(GatewayTest, SequentialFirstFailureFailsTheRequestLaterFailureIsPartial) {
  TestBackend down([](const Request&) { return TestBackend::Json("{}", 503); });
  TestBackend users([](const Request&) { return TestBackend::Json(R"({"id":1,"company_id":7})"); });
  TestBackend companies(EchoTarget());
  {
    SluiceProcess gw(SequentialConfig(down.url(), companies.url()));
    Response res = Fetch(gw.port(), "GET", "/seq/1");
    EXPECT_EQ(res.result_int(), 500u);
    EXPECT_EQ(companies.request_count(), 0u);  // never called
  }
  SluiceProcess gw(SequentialConfig(users.url(), down.url()));
  Response res = Fetch(gw.port(), "GET", "/seq/1");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"company_id":7,"id":1})");
  EXPECT_EQ(Header(res, "X-Krakend-Completed"), "false");
}

TEST(GatewayTest, ConcurrentCallsFirstGoodAnswerWins) {
  // Every third call is slow, every other call fails: with 3 concurrent calls per request the
  // answer is the fast good one, well before the slow call finishes.
  std::atomic<int> n{0};
  TestBackend backend([&n](const Request&) {
    const int k = n++;
    if (k % 3 == 0) std::this_thread::sleep_for(milliseconds(1500));
    if (k % 3 == 1) return TestBackend::Json("{}", 500);
    return TestBackend::Json(R"({"ok":true})");
  });
  SluiceProcess gw(OneEndpoint(backend.url(), "/cc", "/cc", R"("concurrent_calls": 3,)"));
  auto start = steady_clock::now();
  Response res = Fetch(gw.port(), "GET", "/cc");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"ok":true})");
  EXPECT_EQ(Header(res, "X-Krakend-Completed"), "true");
  EXPECT_LT(steady_clock::now() - start, milliseconds(1400));  // not the slow call's 1500 ms
  EXPECT_TRUE(Eventually([&] { return backend.request_count() == 3; }));
}

// ---------------------------------------------------------------------------------------------
// Limits

TEST(GatewayTest, OversizeHeaderGets431) {
  TestBackend backend(EchoTarget());
  SluiceProcess gw(OneEndpoint(backend.url(), "/a", "/a", "", "", R"("max_header_bytes": 1024,)"));
  Response res = Fetch(gw.port(), "GET", "/a", {{"X-Big", std::string(4096, 'x')}});
  EXPECT_EQ(res.result_int(), 431u);
  EXPECT_EQ(backend.request_count(), 0u);
  // Normal requests still work.
  EXPECT_EQ(Fetch(gw.port(), "GET", "/a").result_int(), 200u);
}

TEST(GatewayTest, OversizeBodyGets413) {
  TestBackend backend(EchoTarget());
  std::string config = R"({"version": 3, "extra_config": {"sluice/http": {"max_body_bytes": 1000}},
      "endpoints": [{"endpoint": "/up", "method": "POST",
      "backend": [{"host": [")" +
                       backend.url() + R"("], "url_pattern": "/up"}]}]})";
  SluiceProcess gw(config);
  std::string out =
      RawExchange(gw.port(), "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
                                 std::string(100, 'x'));
  EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u) << out;
  EXPECT_EQ(backend.request_count(), 0u);
  EXPECT_EQ(Fetch(gw.port(), "POST", "/up", {}, std::string(900, 'y')).result_int(), 200u);
}

// A client that writes its whole body before reading its answer (as simple clients do) gets the
// refusal: the gateway reads and drops the rest of the body instead of closing with bytes unread,
// which resets the connection under the client's writes.
TEST(GatewayTest, AClientStillSendingARefusedBodyGetsTheAnswer) {
  TestBackend backend(EchoTarget());
  std::string config = R"({"version": 3, "extra_config": {"sluice/http": {"max_body_bytes": 1000},
      "telemetry/logging": {"level": "WARNING"}},
      "endpoints": [{"endpoint": "/up", "method": "POST",
      "backend": [{"host": [")" +
                       backend.url() + R"("], "url_pattern": "/up"}]}]})";
  SluiceProcess gw(config);
  const boost::asio::ip::tcp::endpoint to(boost::asio::ip::make_address("127.0.0.1"), gw.port());
  boost::asio::io_context ioc;
  // More than both sockets' buffers hold (loopback: at most 4 MiB sent + 6 MiB received): the
  // writes finish only if the gateway reads.
  const std::string body(24 << 20, 'x');
  boost::asio::ip::tcp::socket client(ioc);
  client.connect(to);
  boost::beast::error_code ec;
  boost::asio::write(client,
                     boost::asio::buffer("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                                         std::to_string(body.size()) + "\r\n\r\n"),
                     ec);
  boost::asio::write(client, boost::asio::buffer(body), ec);
  EXPECT_FALSE(ec) << "the gateway reset the connection under the body: " << ec.message();
  const std::string out = ReadUntilClosed(client, std::chrono::seconds(30));
  EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u) << out;
  EXPECT_EQ(backend.request_count(), 0u);

  // A client that stops sending and never closes is not waited for without end.
  boost::asio::ip::tcp::socket idle(ioc);
  idle.connect(to);
  boost::asio::write(idle, boost::asio::buffer("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                                               std::to_string(body.size()) + "\r\n\r\n" +
                                               std::string(1 << 20, 'x')));
  EXPECT_EQ(ReadUntilClosed(idle, std::chrono::seconds(30)).rfind("HTTP/1.1 413", 0), 0u);
  EXPECT_TRUE(Eventually([&] { return Sample(MetricsPage(gw), "sluice_open_connections") == 0; }));
}

// The request bodies all connections hold at once count against sluice/http's
// max_buffered_request_bytes, as HTTP/2 streams' do: connections that each trickle in a large
// body cannot together take the process's memory.
TEST(GatewayTest, BufferedRequestBodiesAreBoundedPerProcess) {
  TestBackend backend([](const Request& req) {
    return TestBackend::Json(R"({"len":)" + std::to_string(req.body().size()) + "}");
  });
  // 1 MiB for the whole process: one body of 600,000 bytes fits, two do not.
  std::string config = R"({"version": 3, "max_header_bytes": 4096, "extra_config": {
      "sluice/http": {"max_body_bytes": 600000, "max_buffered_request_bytes": 1048576},
      "telemetry/logging": {"level": "WARNING"}},
      "endpoints": [{"endpoint": "/up", "method": "POST",
      "backend": [{"host": [")" +
                       backend.url() + R"("], "url_pattern": "/up"}]}]})";
  SluiceProcess gw(config);
  auto held = [&] { return Sample(MetricsPage(gw), "sluice_buffered_request_bytes"); };
  const std::string head = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 600000\r\n\r\n";
  const boost::asio::ip::tcp::endpoint to(boost::asio::ip::make_address("127.0.0.1"), gw.port());
  boost::asio::io_context ioc;
  // The holder declares 600,000 bytes and sends 500,000: the gateway holds (has reserved) the
  // declared length.
  boost::asio::ip::tcp::socket holder(ioc);
  holder.connect(to);
  boost::asio::write(holder, boost::asio::buffer(head + std::string(500000, 'h')));
  ASSERT_TRUE(Eventually([&] { return held() == 600000; })) << held();

  // A second declared length does not fit: refused before the client is invited to send it.
  std::string got = RawExchange(gw.port(),
                                "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 600000\r\n"
                                "Expect: 100-continue\r\n\r\n",
                                std::chrono::seconds(30));
  EXPECT_EQ(got.rfind("HTTP/1.1 503", 0), 0u) << got;
  EXPECT_NE(got.find("503 request buffers full, retry later"), std::string::npos) << got;

  // A chunked body is charged as it arrives. This one passes the budget with its last byte
  // (600,000 + 448,577 is one byte over 1 MiB): the gateway has read every byte sent when it
  // refuses, so it closes cleanly (no reset that could discard its answer).
  got = RawExchange(gw.port(),
                    "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "6d841\r\n" +
                        std::string(448577, 'o'),
                    std::chrono::seconds(30));
  EXPECT_EQ(got.rfind("HTTP/1.1 503", 0), 0u) << got;
  EXPECT_NE(got.find("503 request buffers full, retry later"), std::string::npos) << got;
  EXPECT_EQ(backend.request_count(), 0u);
  EXPECT_TRUE(Eventually([&] { return held() == 600000; })) << "the refused bodies' bytes are free";

  // Once the holder's connection is gone, its bytes are free again.
  holder.close();
  EXPECT_TRUE(Eventually([&] { return held() == 0; })) << held();
  EXPECT_EQ(Fetch(gw.port(), "POST", "/up", {}, std::string(600000, 'y')).result_int(), 200u);
  EXPECT_EQ(backend.last_request().body().size(), 600000u);
}

TEST(GatewayTest, SlowlorisHeadersAreCutOff) {
  TestBackend backend(EchoTarget());
  SluiceProcess gw(
      OneEndpoint(backend.url(), "/a", "/a", "", "", R"("read_header_timeout": "500ms",)"));
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), gw.port()});
  const std::string req =
      "GET /a HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  auto start = steady_clock::now();
  boost::system::error_code ec;
  size_t sent = 0;
  // One byte every 100 ms: the whole header would take ~6 s; the gateway must cut at ~0.5 s.
  while (sent < req.size() && steady_clock::now() - start < std::chrono::seconds(5)) {
    boost::asio::write(s, boost::asio::buffer(req.data() + sent, 1), ec);
    if (ec) break;
    ++sent;
    std::this_thread::sleep_for(milliseconds(100));
    char c;
    s.non_blocking(true);
    s.read_some(boost::asio::buffer(&c, 1), ec);
    s.non_blocking(false);
    if (ec && ec != boost::asio::error::would_block) break;
    ec.clear();
  }
  auto took = steady_clock::now() - start;
  EXPECT_TRUE(ec) << "connection still open after " << sent << " bytes";
  EXPECT_LT(took, std::chrono::seconds(2));
  EXPECT_LT(sent, req.size());
  EXPECT_EQ(backend.request_count(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown

// The keep-alive limit (idle_timeout): a connection that sends nothing after its answer is
// closed once the limit passes, not before.
TEST(GatewayTest, IdleKeepAliveConnectionsAreClosedAtIdleTimeout) {
  TestBackend backend(EchoTarget());
  SluiceProcess gw(OneEndpoint(backend.url(), "/a", "/a", "", "", R"("idle_timeout": "400ms",)"));
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), gw.port()});
  const std::string req = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  boost::asio::write(s, boost::asio::buffer(req));
  boost::beast::flat_buffer buffer;
  boost::beast::http::response<boost::beast::http::string_body> res;
  boost::beast::http::read(s, buffer, res);
  ASSERT_EQ(res.result_int(), 200u);
  ASSERT_TRUE(res.keep_alive());
  const auto answered = steady_clock::now();
  // Blocks until the gateway closes the connection (bounded by the test's own timeout).
  char c;
  boost::system::error_code ec;
  s.read_some(boost::asio::buffer(&c, 1), ec);
  const auto took = steady_clock::now() - answered;
  EXPECT_EQ(ec, boost::asio::error::eof) << ec.message();
  EXPECT_GE(took, milliseconds(380));  // never early (a little slack for the clocks)
  EXPECT_LT(took, milliseconds(2500));
}

// The write limit (write_timeout): a client that stops reading a large answer is disconnected
// when the limit passes; the worker does not wait on it forever.
TEST(GatewayTest, AClientThatDoesNotReadIsClosedAtWriteTimeout) {
  const std::string big(16 * 1024 * 1024, 'x');
  // The first answer is too big to sit in socket buffers; later ones are small, so the check
  // that the next client is served does not race the 500 ms limit on a slow (sanitizer) build.
  std::atomic<int> answers{0};
  TestBackend backend([&big, &answers](const Request&) {
    Response res(boost::beast::http::status::ok, 11);
    res.set(boost::beast::http::field::content_type, "text/plain");
    res.body() = answers++ == 0 ? big : "small";
    res.prepare_payload();
    return res;
  });
  SluiceProcess gw(OneEndpoint(backend.url(), "/big", "/big", R"("output_encoding": "no-op",)",
                               R"("encoding": "no-op",)", R"("write_timeout": "500ms",)"));
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  s.open(boost::asio::ip::tcp::v4());
  s.set_option(boost::asio::socket_base::receive_buffer_size(64 * 1024));
  // Reads give up after 3 s without a byte (a connection never closed fails, not hangs).
  const timeval patience{3, 0};
  ASSERT_EQ(setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience), 0);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), gw.port()});
  const std::string req = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
  boost::asio::write(s, boost::asio::buffer(req));
  // Not reading: the answer fills both sockets' buffers, the gateway's write stalls, and the
  // write limit closes the connection (waited for, not slept: a slow machine takes longer).
  ASSERT_TRUE(Eventually([&] { return backend.request_count() == 1; }));
  EXPECT_TRUE(Eventually([&] { return Sample(MetricsPage(gw), "sluice_open_connections") == 0; }));
  size_t received = 0;
  bool closed = false;  // EOF or reset; a read that waits 3 s (SO_RCVTIMEO) ends the loop too
  std::vector<char> chunk(1 << 16);
  const auto start = steady_clock::now();
  while (steady_clock::now() - start < std::chrono::seconds(10)) {
    const ssize_t n = ::recv(s.native_handle(), chunk.data(), chunk.size(), 0);
    if (n > 0) {
      received += static_cast<size_t>(n);
      continue;
    }
    closed = n == 0 || errno == ECONNRESET;
    break;
  }
  EXPECT_TRUE(closed) << "the connection was still open after the write limit";
  EXPECT_LT(received, big.size()) << "the whole answer arrived: the write was never cut";
  EXPECT_GT(received, 0u);
  // The gateway serves the next client as usual.
  EXPECT_EQ(Fetch(gw.port(), "GET", "/big").body(), "small");
}

TEST(GatewayTest, SigtermDrainsInFlightRequestsAndExitsZero) {
  TestBackend backend([](const Request& req) {
    std::this_thread::sleep_for(milliseconds(600));
    return TestBackend::Json(R"({"id":")" + std::string(req.target()) + R"("})");
  });
  SluiceProcess gw(OneEndpoint(backend.url(), "/s/{n}", "/s/{n}", R"("timeout": "5s",)"));
  constexpr int kInFlight = 8;
  std::vector<std::future<Response>> results;
  for (int i = 0; i < kInFlight; ++i) {
    results.push_back(std::async(std::launch::async, [&gw, i] {
      return Fetch(gw.port(), "GET", "/s/" + std::to_string(i));
    }));
  }
  ASSERT_TRUE(Eventually([&] { return backend.request_count() == kInFlight; }));
  // An idle keep-alive connection must not hold the shutdown up.
  HttpClient idle(gw.port());
  ASSERT_EQ(idle.Get("/__health").result_int(), 200u);
  kill(gw.pid(), SIGTERM);
  for (int i = 0; i < kInFlight; ++i) {
    Response res = results[i].get();
    EXPECT_EQ(res.result_int(), 200u) << "request " << i << " lost";
    EXPECT_EQ(res.body(), R"({"id":"/s/)" + std::to_string(i) + R"("})");
  }
  // Keep-alive connections (the idle one, and those whose answers were promised keep-alive
  // before the signal) must not hold the exit up until idle_timeout (90 s).
  auto stop_start = steady_clock::now();
  EXPECT_EQ(gw.StopWith(0), 0) << gw.log();
  EXPECT_LT(steady_clock::now() - stop_start, std::chrono::seconds(5));
}

// The harness reads the gateway's stderr only when asked: after a few thousand access-log lines
// the pipe is full and the log writer blocks. Requests must not notice (the logger drops lines
// rather than block a worker), and SIGTERM must still end the process promptly.
TEST(GatewayTest, AStderrNobodyReadsBlocksNeitherRequestsNorShutdown) {
  SluiceProcess gw(R"({"version": 3, "endpoints": []})");
  HttpClient client(gw.port());
  const auto start = steady_clock::now();
  for (int i = 0; i < 3000; ++i) {  // ~80 bytes of access log each: > 3x a 64 KiB pipe
    ASSERT_EQ(client.Get("/__health?padding=" + std::string(20, 'x')).result_int(), 200u) << i;
  }
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(120));  // ~4 s under ASan here
  const auto stop = steady_clock::now();
  EXPECT_EQ(gw.StopWith(SIGTERM), 0);
  EXPECT_LT(steady_clock::now() - stop, std::chrono::seconds(20));
}

// A SIGTERM that arrives as soon as the port accepts connections drains and exits 0. The
// handlers used to be installed after the admin plane had started, while the listener already
// served, and a signal in between killed the process by its default action (h2_test's SIGTERM
// test failed 1 run in 6 that way). A shell starts the gateway on a free port, polls the port and
// signals at the first connection it gets.
TEST(GatewayTest, SigtermAsSoonAsThePortOpensDrainsAndExitsZero) {
  const std::string config = ::testing::TempDir() + "early-signal.json";
  const std::string script_file = ::testing::TempDir() + "early-signal.sh";
  for (int i = 0; i < 5; ++i) {
    const uint16_t port = FreePort();
    std::ofstream(config) << R"({"version": 3, "endpoints": [], "port": )" << port << "}";
    const std::string script =
        "SLUICE_ADMIN_ADDRESS=127.0.0.1:0 SLUICE_METRICS_ADDRESS=127.0.0.1:0 '" + SluiceBinary() +
        "' run -c '" + config +
        "' 2>/dev/null & pid=$!\n"
        "for _ in $(seq 2000); do (exec 3<>/dev/tcp/127.0.0.1/" +
        std::to_string(port) +
        ") 2>/dev/null && break; sleep 0.005; done\n"
        "kill -TERM $pid; wait $pid; echo \"exit $?\"\n";
    std::ofstream(script_file) << script;
    FILE* shell = popen(("bash '" + script_file + "'").c_str(), "r");
    ASSERT_NE(shell, nullptr);
    std::string out;
    char buf[256];
    while (fgets(buf, sizeof buf, shell) != nullptr) out += buf;
    pclose(shell);
    EXPECT_EQ(out, "exit 0\n") << "run " << i << " (exit 143: killed by the signal)";
  }
}

TEST(GatewayTest, MaxShutdownWaitTimeBoundsTheDrain) {
  TestBackend backend([](const Request&) {
    std::this_thread::sleep_for(milliseconds(3000));
    return TestBackend::Json("{}");
  });
  SluiceProcess gw(OneEndpoint(backend.url(), "/stuck", "/stuck", R"("timeout": "10s",)", "",
                               R"("max_shutdown_wait_time": "300ms",)"));
  auto stuck = std::async(std::launch::async, [&gw] {
    HttpClient client(gw.port());
    return client.Get("/stuck");
  });
  ASSERT_TRUE(Eventually([&] { return backend.request_count() == 1; }));
  auto start = steady_clock::now();
  kill(gw.pid(), SIGTERM);
  EXPECT_EQ(gw.StopWith(0), 0);
  auto took = steady_clock::now() - start;
  EXPECT_GE(took, milliseconds(250));
  EXPECT_LT(took, milliseconds(5000));  // not the request's 10 s
  Response cut = stuck.get();
  EXPECT_EQ(cut.result_int(), 0u) << cut.body() << "\nLOG:" << gw.log();  // cut off, as configured
}

}  // namespace
}  // namespace sluice::testing
