// gRPC backends (issue 5): the real sluice binary in front of the real demo_grpc service
// (proto/shop/shop.proto: nested messages, repeated, map, enum, oneof, Timestamp, Duration,
// int64, bytes) and a real REST backend, all on 127.0.0.1. Every test asserts the exact status
// and JSON a client sees: request mapping (params, query, body, input_mapping, headers as
// metadata), each output option, every gRPC status row, deadline, backend down, a mixed REST +
// gRPC aggregate, reflection-sourced descriptors, bad client input, and catalog errors from
// `sluice check`.

#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "boost/asio/write.hpp"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

namespace bhttp = boost::beast::http;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr char kListening[] = R"(demo_grpc listening on 127\.0\.0\.1:(\d+)\n)";

std::string Header(const Response& r, const std::string& name) {
  auto it = r.find(name);
  return it == r.end() ? "<absent>" : std::string(it->value());
}

std::string Protoset() { return Runfile("proto/shop/shop.protoset"); }

// Replaces every "{{KEY}}" in `text`.
std::string Fill(std::string text, const std::vector<std::pair<std::string, std::string>>& vars) {
  for (const auto& [key, value] : vars) {
    const std::string mark = "{{" + key + "}}";
    for (size_t at = text.find(mark); at != std::string::npos; at = text.find(mark, at)) {
      text.replace(at, mark.size(), value);
    }
  }
  return text;
}

// {"labels": {"a": {"a": ...}}}, `levels` objects deep inside the Struct.
std::string NestedLabels(int levels) {
  std::string body = "{\"labels\": ";
  for (int i = 0; i < levels; ++i) body += "{\"a\": ";
  body += "1";
  for (int i = 0; i < levels; ++i) body += "}";
  return body + "}";
}

std::string WriteConfig(const std::string& name, const std::string& json) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::ofstream(path) << json;
  return path;
}

// Product 1 and 2 of demo_grpc, rendered with the default options: proto field names, enums
// as numbers, Timestamp/Duration as {seconds, nanos}, unset fields printed (a message: null;
// the unset member of a oneof: left out), bytes as base64, keys sorted by the JSON renderer.
constexpr char kProduct1[] =
    R"({"dimensions":{"height_cm":23.5,"width_cm":19.1},"id":1,"kind":1,)"
    R"("name":"The Pragmatic Programmer","price":{"currency":"EUR","nanos":900000000,"units":39},)"
    R"("shipping_time":{"nanos":0,"seconds":172800},"stock":{"berlin":3,"lisbon":0},)"
    R"("tags":["software","classic"],"thumbnail":"iVBORw==",)"
    R"("updated_at":{"nanos":0,"seconds":1768473000}})";
constexpr char kProduct2[] =
    R"({"dimensions":null,"id":2,"kind":2,"name":"Chess Set",)"
    R"("shipping_time":{"nanos":250000000,"seconds":0},"stock":{},"tags":[],"thumbnail":"",)"
    R"("unavailable_reason":"discontinued","updated_at":{"nanos":500000000,"seconds":1748736000}})";

constexpr char kConfig[] = R"({
  "version": 3, "name": "grpc test", "timeout": "3s",
  "extra_config": {"grpc": {"catalog": ["{{PROTOSET}}"]}},
  "endpoints": [
    {"endpoint": "/p/{id}",
     "backend": [{"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/GetProduct",
                  "extra_config": {"backend/grpc": {}}}]},
    {"endpoint": "/p/{id}/enum",
     "backend": [{"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/GetProduct",
                  "extra_config": {"backend/grpc": {"output_enum_as_string": true}}}]},
    {"endpoint": "/p/{id}/ts",
     "backend": [{"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/GetProduct",
                  "extra_config": {"backend/grpc": {"output_timestamp_as_string": true}}}]},
    {"endpoint": "/p/{id}/dur",
     "backend": [{"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/GetProduct",
                  "extra_config": {"backend/grpc": {"output_duration_as_string": true}}}]},
    {"endpoint": "/p/{id}/unset",
     "backend": [{"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/GetProduct",
                  "extra_config": {"backend/grpc": {"output_remove_unset_values": true}}}]},
    {"endpoint": "/p/{id}/camel",
     "backend": [{"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/GetProduct",
                  "extra_config": {"backend/grpc": {"response_naming_convention": "camelCase"}}}]},
    {"endpoint": "/search", "method": "POST",
     "input_query_strings": ["q", "tags", "min", "filter.in_stock", "page_size", "kind"],
     "input_headers": ["X-Tenant", "Grpc-Trace", "X-Blob-Bin"],
     "backend": [{"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/Search",
                  "extra_config": {"backend/grpc": {
                    "use_request_body": true,
                    "input_mapping": {"q": "query", "min": "filter.price.min"},
                    "header_mapping": {"X-Tenant": "tenant"}}}}]},
    {"endpoint": "/search/{kind}", "input_query_strings": ["q", "kind"],
     "backend": [{"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/Search",
                  "allow": ["echo", "total"],
                  "extra_config": {"backend/grpc": {"input_mapping": {"q": "query"},
                                                    "output_remove_unset_values": true}}}]},
    {"endpoint": "/fail/{code}", "input_query_strings": ["message"],
     "backend": [{"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/Fail",
                  "extra_config": {"backend/grpc": {}}}]},
    {"endpoint": "/slow/{delay_ms}", "timeout": "300ms",
     "backend": [{"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/Fail",
                  "extra_config": {"backend/grpc": {}}}]},
    {"endpoint": "/down/{id}",
     "backend": [{"host": ["127.0.0.1:{{CLOSED}}"], "url_pattern": "/shop.Shop/GetProduct",
                  "extra_config": {"backend/grpc": {}}}]},
    {"endpoint": "/mixed/{id}",
     "backend": [
       {"host": ["{{REST}}"], "url_pattern": "/users/{id}", "group": "user"},
       {"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/GetProduct", "group": "product",
        "allow": ["name", "kind", "price"],
        "extra_config": {"backend/grpc": {"output_enum_as_string": true}}}]},
    {"endpoint": "/mixed-down/{id}",
     "backend": [
       {"host": ["{{REST}}"], "url_pattern": "/users/{id}", "group": "user"},
       {"host": ["127.0.0.1:{{CLOSED}}"], "url_pattern": "/shop.Shop/GetProduct",
        "group": "product", "extra_config": {"backend/grpc": {}}}]},
    {"endpoint": "/mixed-slow/{id}", "timeout": "300ms",
     "backend": [
       {"host": ["{{REST}}"], "url_pattern": "/users/{id}", "group": "user"},
       {"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/Fail", "group": "slow",
        "extra_config": {"backend/grpc": {"input_mapping": {"id": "delay_ms"}}}}]},
    {"endpoint": "/rr",
     "backend": [{"host": ["127.0.0.1:{{A}}", "127.0.0.1:{{B}}"],
                  "url_pattern": "/shop.Shop/Search", "allow": ["server"],
                  "extra_config": {"backend/grpc": {}}}]}
  ]
})";

class GrpcBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    closed_ = new ClosedPort();
    alpha_ = new ServerProcess("tools/demo_grpc/demo_grpc", {"--port", "0", "--name", "alpha"},
                               kListening);
    beta_ = new ServerProcess("tools/demo_grpc/demo_grpc", {"--port", "0", "--name", "beta"},
                              kListening);
    rest_ = new TestBackend([](const Request& req) {
      return TestBackend::Json(R"({"id": 7, "name": "Ann", "path": ")" + std::string(req.target()) +
                               "\"}");
    });
    gateway_ = new SluiceProcess(Fill(kConfig, {{"PROTOSET", Protoset()},
                                                {"A", std::to_string(alpha_->port())},
                                                {"B", std::to_string(beta_->port())},
                                                {"CLOSED", std::to_string(closed_->port())},
                                                {"REST", rest_->url()}}));
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete rest_;
    delete beta_;
    delete alpha_;
    delete closed_;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "sluice log:\n" << gateway_->log();
  }

  static Response Get(const std::string& target) { return Fetch(gateway_->port(), "GET", target); }
  static Response Post(const std::string& target, const std::string& body,
                       const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    auto h = headers;
    h.emplace_back("Content-Type", "application/json");
    return Fetch(gateway_->port(), "POST", target, h, body);
  }

  static ClosedPort* closed_;
  static ServerProcess* alpha_;
  static ServerProcess* beta_;
  static TestBackend* rest_;
  static SluiceProcess* gateway_;
};

ClosedPort* GrpcBackendTest::closed_ = nullptr;
ServerProcess* GrpcBackendTest::alpha_ = nullptr;
ServerProcess* GrpcBackendTest::beta_ = nullptr;
TestBackend* GrpcBackendTest::rest_ = nullptr;
SluiceProcess* GrpcBackendTest::gateway_ = nullptr;

TEST_F(GrpcBackendTest, DefaultOutputOfEveryFieldShape) {
  for (const auto& [target, body] :
       std::vector<std::pair<std::string, std::string>>{{"/p/1", kProduct1}, {"/p/2", kProduct2}}) {
    Response r = Get(target);
    EXPECT_EQ(r.result_int(), 200u) << target;
    EXPECT_EQ(Header(r, "Content-Type"), "application/json; charset=utf-8");
    EXPECT_EQ(Header(r, "X-Krakend-Completed"), "true");
    EXPECT_EQ(r.body(), body) << target;
  }
}

// One row per output option, each alone, on product 2 (whose unset fields show the difference).
TEST_F(GrpcBackendTest, EachOutputOption) {
  struct Row {
    const char* target;
    const char* body;
  };
  const Row rows[] = {
      {"/p/2/enum",
       R"({"dimensions":null,"id":2,"kind":"GAME","name":"Chess Set",)"
       R"("shipping_time":{"nanos":250000000,"seconds":0},"stock":{},"tags":[],"thumbnail":"",)"
       R"("unavailable_reason":"discontinued","updated_at":{"nanos":500000000,"seconds":1748736000}})"},
      {"/p/2/ts",
       R"({"dimensions":null,"id":2,"kind":2,"name":"Chess Set",)"
       R"("shipping_time":{"nanos":250000000,"seconds":0},"stock":{},"tags":[],"thumbnail":"",)"
       R"("unavailable_reason":"discontinued","updated_at":"2025-06-01T00:00:00.5Z"})"},
      {"/p/1/ts", nullptr},  // whole seconds: no fraction (checked below)
      {"/p/2/dur",
       R"({"dimensions":null,"id":2,"kind":2,"name":"Chess Set",)"
       R"("shipping_time":"0.250s","stock":{},"tags":[],"thumbnail":"",)"
       R"("unavailable_reason":"discontinued","updated_at":{"nanos":500000000,"seconds":1748736000}})"},
      {"/p/2/unset",
       R"({"id":2,"kind":2,"name":"Chess Set","shipping_time":{"nanos":250000000},)"
       R"("unavailable_reason":"discontinued","updated_at":{"nanos":500000000,"seconds":1748736000}})"},
      {"/p/2/camel",
       R"({"dimensions":null,"id":2,"kind":2,"name":"Chess Set",)"
       R"("shippingTime":{"nanos":250000000,"seconds":0},"stock":{},"tags":[],"thumbnail":"",)"
       R"("unavailableReason":"discontinued","updatedAt":{"nanos":500000000,"seconds":1748736000}})"},
  };
  for (const Row& row : rows) {
    Response r = Get(row.target);
    EXPECT_EQ(r.result_int(), 200u) << row.target;
    if (row.body != nullptr) {
      EXPECT_EQ(r.body(), row.body) << row.target;
    }
  }
  EXPECT_NE(Get("/p/1/ts").body().find(R"("updated_at":"2026-01-15T10:30:00Z")"),
            std::string::npos);
  EXPECT_NE(Get("/p/1/dur").body().find(R"("shipping_time":"172800s")"), std::string::npos);
  EXPECT_NE(Get("/p/1/camel").body().find(R"("dimensions":{"heightCm":23.5,"widthCm":19.1})"),
            std::string::npos);
}

// Body, query strings (renamed and dotted), URL parameters and allow-listed headers all reach
// the request message and its metadata; the service echoes what it received.
TEST_F(GrpcBackendTest, BodyQueryAndHeadersBuildTheRequest) {
  Response r = Post("/search?q=chess&tags=a&tags=b%20c&min=5&filter.in_stock=true&ignored=1",
                    R"({"page_size": 3, "since": "2026-01-01T00:00:00Z", "kind": "GAME"})",
                    {{"X-Tenant", "acme"},
                     {"Grpc-Trace", "t1"},
                     {"X-Secret", "no"},
                     {"X-Request-Id", "req-77"},
                     {"X-Blob-Bin", "raw bytes"}});
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(
      r.body(),
      R"({"echo":{"filter":{"in_stock":true,"price":{"max":0,"min":5}},"kind":2,)"
      R"("labels":null,"page_size":3,"query":"chess","since":{"nanos":0,"seconds":1767225600},)"
      R"("tags":["a","b c"]},"metadata":{"in-grpc-trace":"t1","tenant":"acme",)"
      R"("x-blob-bin":"raw bytes",)"  // binary metadata: base64 on the wire, decoded by gRPC
      R"("x-forwarded-for":"127.0.0.1","x-forwarded-host":"gateway.test",)"
      R"("x-request-id":"req-77"},)"  // the client's request id travels as metadata
      R"("products":[{"dimensions":null,"id":2,"kind":2,"name":"Chess Set",)"
      R"("shipping_time":{"nanos":250000000,"seconds":0},"stock":{},"tags":[],)"
      R"("thumbnail":"","unavailable_reason":"discontinued",)"
      R"("updated_at":{"nanos":500000000,"seconds":1748736000}}],"server":"alpha","total":1})");
  // A query string wins over the body for the same field, whatever name either uses.
  Response q = Post("/search?page_size=9", R"({"pageSize": 3})");
  EXPECT_NE(q.body().find(R"("page_size":9)"), std::string::npos) << q.body();
  // A URL parameter wins over a query string for the same field.
  Response p = Get("/search/BOOK?q=prag&kind=GAME");
  EXPECT_EQ(p.body(), R"({"echo":{"kind":1,"query":"prag"},"total":1})");
  // google.protobuf.Struct takes any JSON object, and comes back as the same JSON.
  Response labels = Post("/search", R"({"labels": {"a": {"b": [1, "x", null, true]}, "c": 2.5}})");
  EXPECT_NE(labels.body().find(R"("labels":{"a":{"b":[1.0,"x",null,true]},"c":2.5})"),
            std::string::npos)
      << labels.body();
}

// google/rpc/code.proto's HTTP mapping, one row per code, with the JSON error body.
TEST_F(GrpcBackendTest, EveryStatusCodeMapsToItsHttpStatus) {
  const unsigned kHttp[] = {200, 499, 500, 400, 504, 404, 409, 403, 429,
                            400, 409, 400, 501, 500, 503, 500, 401};
  for (int code = 0; code <= 16; ++code) {
    Response r = Get("/fail/" + std::to_string(code) + "?message=boom%20" + std::to_string(code));
    EXPECT_EQ(r.result_int(), kHttp[code]) << "gRPC code " << code;
    if (code == 0) {
      EXPECT_EQ(r.body(), "{}");
      continue;
    }
    EXPECT_EQ(Header(r, "Content-Type"), "application/json") << code;
    EXPECT_EQ(Header(r, "X-Krakend-Completed"), "false") << code;
    // UNAVAILABLE's text is gRPC's own when the backend is down, naming addresses: never passed.
    const std::string message = code == 14 ? "backend unavailable" : "boom " + std::to_string(code);
    EXPECT_EQ(r.body(), R"({"code":)" + std::to_string(code) + R"(,"message":")" + message + "\"}");
  }
}

TEST_F(GrpcBackendTest, DeadlineExceededIs504WithinTheEndpointTimeout) {
  const auto start = steady_clock::now();
  Response r = Get("/slow/2000");
  const auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
  EXPECT_EQ(r.result_int(), 504u);
  EXPECT_EQ(r.body(), R"({"code":4,"message":"Deadline Exceeded"})");
  EXPECT_LT(took.count(), 1500) << "the 300 ms endpoint timeout must bound the call";
}

TEST_F(GrpcBackendTest, BackendDownIs503) {
  Response r = Get("/down/1");
  EXPECT_EQ(r.result_int(), 503u);
  EXPECT_EQ(r.body(), R"({"code":14,"message":"backend unavailable"})");
}

TEST_F(GrpcBackendTest, RestAndGrpcMergeIntoOneAnswer) {
  Response r = Get("/mixed/1");
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(Header(r, "X-Krakend-Completed"), "true");
  EXPECT_EQ(r.body(), R"({"product":{"kind":"BOOK","name":"The Pragmatic Programmer",)"
                      R"("price":{"currency":"EUR","nanos":900000000,"units":39}},)"
                      R"("user":{"id":7,"name":"Ann","path":"/users/1"}})");
}

TEST_F(GrpcBackendTest, AFailedGrpcPartGivesAPartialAnswer) {
  for (const char* target : {"/mixed-down/1", "/mixed-slow/2000"}) {
    Response r = Get(target);
    EXPECT_EQ(r.result_int(), 200u) << target;
    EXPECT_EQ(Header(r, "X-Krakend-Completed"), "false") << target;
    EXPECT_EQ(r.body().rfind(R"({"user":{"id":7,"name":"Ann",)", 0), 0u) << target << r.body();
    EXPECT_EQ(r.body().find("product"), std::string::npos) << r.body();
    EXPECT_EQ(r.body().find("slow"), std::string::npos) << r.body();
  }
}

// Round robin is per worker (no shared counter): one keep-alive connection stays on one worker.
TEST_F(GrpcBackendTest, CallsRoundRobinOverTheHostList) {
  HttpClient client(gateway_->port());
  std::vector<std::string> servers;
  for (int i = 0; i < 4; ++i) servers.push_back(client.Get("/rr").body());
  EXPECT_NE(servers[0], servers[1]);
  EXPECT_EQ(servers[0], servers[2]);
  EXPECT_EQ(servers[1], servers[3]);
  for (const std::string& s : servers) {
    EXPECT_TRUE(s == R"({"server":"alpha"})" || s == R"({"server":"beta"})") << s;
  }
}

// Client mistakes are 400 with a JSON error naming the field; the gateway keeps serving.
TEST_F(GrpcBackendTest, BadClientInputIs400NamingTheField) {
  struct Row {
    std::string target;
    std::string body;  // empty: GET
    std::string message;
  };
  const std::string deep =
      "{\"tags\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  const Row rows[] = {
      {"/search", "{\"page_size\": ", "request body: not valid JSON (syntax error at byte 15)"},
      {"/search", "[1, 2]", "request body: expected an object"},
      {"/search", R"({"page_size": "x"})",
       R"(field \"page_size\": expected a 32-bit integer, got the string \"x\")"},
      {"/search", R"({"page_size": 3000000000})",
       R"(field \"page_size\": expected a 32-bit integer, got the number 3000000000)"},
      {"/search", R"({"bogus": 1})", R"(field \"bogus\": unknown field of shop.SearchRequest)"},
      {"/search", R"({"filter": {"price": {"min": "cheap"}}})",
       R"(field \"filter.price.min\": expected a 64-bit integer, got the string \"cheap\")"},
      {"/search", R"({"filter": {"price": 5}})",
       R"(field \"filter.price\": expected an object, got the number 5)"},
      {"/search", R"({"kind": "TOY"})", R"(field \"kind\": \"TOY\" is not a value of shop.Kind)"},
      {"/search", R"({"since": "yesterday"})",
       R"(field \"since\": expected an RFC 3339 timestamp, got the string \"yesterday\")"},
      // Refused while parsing (before: parsed whole, then refused by the field's type).
      {"/search", deep, "request body: nests deeper than 1000 levels"},
      {"/search?page_size=many", "{}",
       R"(field \"page_size\": expected a 32-bit integer, got the string \"many\")"},
      {"/p/abc", "", R"(field \"id\": expected a 64-bit integer, got the string \"abc\")"},
      {"/p/99999999999999999999", "",
       R"(field \"id\": expected a 64-bit integer, got the string \"99999999999999999999\")"},
      // Percent-decoded bytes that are not UTF-8: named (as U+FFFD) in the error, never sent.
      {"/p/%FF", "",
       "field \\\"id\\\": expected a 64-bit integer, got the string \\\"\xEF\xBF\xBD\\\""},
      {"/search/%FF", "", "field \\\"kind\\\": \\\"\xEF\xBF\xBD\\\" is not a value of shop.Kind"},
      {"/search?q=%FF", "{}", R"(field \"query\": not valid UTF-8)"},
      {"/search", R"({"filter": {"price": {"min": 9223372036854775808.0}}})",
       R"(field \"filter.price.min\": expected a 64-bit integer, got the number 9.223372036854776e+18)"},
      {"/search", R"({"since": "infinite-future"})",
       R"(field \"since\": expected an RFC 3339 timestamp, got the string \"infinite-future\")"},
      {"/search", NestedLabels(60), "<depth>"},
  };
  for (const Row& row : rows) {
    Response r = row.body.empty() ? Get(row.target) : Post(row.target, row.body);
    EXPECT_EQ(r.result_int(), 400u) << row.target << " " << row.body.substr(0, 60);
    EXPECT_EQ(Header(r, "Content-Type"), "application/json");
    if (row.message == "<depth>") {
      EXPECT_NE(r.body().find("nested deeper than 100 levels"), std::string::npos) << r.body();
    } else {
      EXPECT_EQ(r.body(), R"({"code":3,"message":")" + row.message + "\"}")
          << row.body.substr(0, 60);
    }
  }
  EXPECT_EQ(Get("/p/1").body(), kProduct1) << "still serving after bad input";
}

TEST_F(GrpcBackendTest, HostileRequestBodiesAreRefusedWhileParsingWithBoundedMemory) {
  // The review's attack: 10 MB of '[' on a use_request_body endpoint blocked a worker 2.4 s and
  // took 774 MB; ~3.5 million empty arrays would take ~300 MB. Both are refused at the limit.
  const long before = RssKiB(gateway_->pid());
  ASSERT_GT(before, 0);
  const std::string brackets(9 << 20, '[');
  Response r = Post("/search", brackets);
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(r.body(), R"({"code":3,"message":"request body: nests deeper than 1000 levels"})");
  std::string arrays = "{\"tags\": [";
  while (arrays.size() < (9u << 20)) arrays += "[],";
  arrays += "[]]}";
  r = Post("/search", arrays);
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(r.body(),
            R"({"code":3,"message":"request body: holds more than 1000000 JSON values"})");
  const long after = RssKiB(gateway_->pid());
  // The bodies themselves (9 MiB each, read whole) and the refused million values stay far
  // below what the unbounded parse took (774 MB).
  EXPECT_LT(after - before, 150 * 1024 * kRssAllowanceFactor)
      << before << " KiB -> " << after << " KiB";
  EXPECT_EQ(Get("/p/1").body(), kProduct1) << "still serving";
}

// ---------------------------------------------------------------------------------------------
// The connection to a gRPC backend (gateway/backend/grpc/h2_client.h): a backend that dies,
// restarts, stops gracefully, or does not speak gRPC at all.

// A server that is not HTTP/2: it answers every connection at once with an HTTP/1.1 400 (as
// nginx does to HTTP/2's preface) and keeps it open until destroyed.
class Http1Only {
 public:
  Http1Only() : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] {
      for (;;) {
        boost::asio::ip::tcp::socket socket(ioc_);
        boost::system::error_code ec;
        acceptor_.accept(socket, ec);
        if (ec) return;
        boost::asio::write(socket,
                           boost::asio::buffer(std::string_view(
                               "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")),
                           ec);
        open_.push_back(std::move(socket));
      }
    });
  }
  ~Http1Only() {
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // ends the blocking accept
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<boost::asio::ip::tcp::socket> open_;
  std::thread thread_;
};

constexpr char kConnectionConfig[] = R"({
  "version": 3, "name": "grpc connection test", "timeout": "3s",
  "extra_config": {"grpc": {"catalog": ["{{PROTOSET}}"]}},
  "endpoints": [
    {"endpoint": "/p/{id}",
     "backend": [{"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/GetProduct",
                  "extra_config": {"backend/grpc": {}}}]},
    {"endpoint": "/slow/{delay_ms}",
     "backend": [{"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/Fail",
                  "extra_config": {"backend/grpc": {}}}]},
    {"endpoint": "/not-grpc/{id}",
     "backend": [{"host": ["{{REST}}"], "url_pattern": "/shop.Shop/GetProduct",
                  "extra_config": {"backend/grpc": {}}}]},
    {"endpoint": "/not-grpc-kept-open/{id}",
     "backend": [{"host": ["{{HTTP1}}"], "url_pattern": "/shop.Shop/GetProduct",
                  "extra_config": {"backend/grpc": {}}}]},
    {"endpoint": "/scripted/{id}", "input_headers": ["X-Mode", "X-Call"],
     "backend": [{"host": ["{{SCRIPTED}}"], "url_pattern": "/shop.Shop/GetProduct",
                  "extra_config": {"backend/grpc": {}}}]},
    {"endpoint": "/silent/{id}", "timeout": "300ms",
     "backend": [{"host": ["{{SILENT}}"], "url_pattern": "/shop.Shop/GetProduct",
                  "extra_config": {"backend/grpc": {}}}]}
  ]
})";

class GrpcConnectionTest : public ::testing::Test {
 protected:
  GrpcConnectionTest()
      : port_(FreePort()),
        rest_("tools/demo_backend/demo_backend", {"--port", "0"},
              R"(demo_backend listening on 127\.0\.0\.1:(\d+)\n)"),
        silent_([](const Request&) { return TestBackend::Json("{}"); }),
        scripted_("tests/integration/grpc_scripted_backend.py", {}, "listening on ([0-9]+)") {
    Start();
    gateway_ = std::make_unique<SluiceProcess>(
        Fill(kConnectionConfig, {{"PROTOSET", Protoset()},
                                 {"A", std::to_string(port_)},
                                 {"REST", "127.0.0.1:" + std::to_string(rest_.port())},
                                 {"HTTP1", "127.0.0.1:" + std::to_string(http1_.port())},
                                 {"SILENT", "127.0.0.1:" + std::to_string(silent_.port())},
                                 {"SCRIPTED", "127.0.0.1:" + std::to_string(scripted_.port())}}));
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "sluice log:\n" << gateway_->log();
  }

  void Start() {
    backend_ = std::make_unique<ServerProcess>(
        "tools/demo_grpc/demo_grpc", std::vector<std::string>{"--port", std::to_string(port_)},
        kListening);
  }
  Response Get(const std::string& target) { return Fetch(gateway_->port(), "GET", target); }
  // GET `target` on another thread, timed.
  std::future<std::pair<Response, milliseconds>> GetLater(const std::string& target) {
    return std::async(std::launch::async, [this, target] {
      const auto start = steady_clock::now();
      Response r = Get(target);
      return std::make_pair(r,
                            std::chrono::duration_cast<milliseconds>(steady_clock::now() - start));
    });
  }

  const uint16_t port_;
  ServerProcess rest_;  // HTTP/1.1 only: it closes a connection that starts with HTTP/2's preface
  Http1Only http1_;
  TestBackend silent_;      // HTTP/1.1 only: reads HTTP/2's preface, answers nothing, keeps it open
  ServerProcess scripted_;  // HTTP/2 by python3-h2, misbehaving as each call's x-mode asks
  std::unique_ptr<ServerProcess> backend_;
  std::unique_ptr<SluiceProcess> gateway_;
};

TEST_F(GrpcConnectionTest, ABackendKilledMidCallIs503AtOnceAndServesAgainSoonAfterItsRestart) {
  ASSERT_EQ(Get("/p/1").body(), kProduct1);  // the connection is open
  auto slow = GetLater("/slow/2500");
  // The call is on the backend: in the gateway (the connection is open, so it is sent at once),
  // plus a margin.
  ASSERT_TRUE(Eventually([&] {
    return Sample(MetricsPage(*gateway_), "sluice_http_requests_in_flight", {"/slow/"}) == 1;
  }));
  std::this_thread::sleep_for(milliseconds(200));
  backend_->StopWith(SIGKILL);
  auto [r, took] = slow.get();
  EXPECT_EQ(r.result_int(), 503u);
  EXPECT_EQ(r.body(), R"({"code":14,"message":"backend unavailable"})");
  EXPECT_LT(took.count(), 2400) << "the lost connection fails the call, not its 2.5 s answer";
  // The call was on the connection when it broke (not refused at connect).
  std::string log;
  gateway_->ReadLogUntil(
      [&log](const std::string& text) {
        log = text;
        return text.find("the backend closed the connection") != std::string::npos ||
               text.find("reading: ") != std::string::npos;
      },
      milliseconds(5000));
  EXPECT_TRUE(log.find("the backend closed the connection") != std::string::npos ||
              log.find("reading: ") != std::string::npos)
      << log;

  // Down for 2.5 s of calls (the backoff grows to its 1 s cap), then restarted: served again
  // within the cap and a second of slack.
  const auto down = steady_clock::now();
  while (steady_clock::now() - down < milliseconds(2500)) {
    EXPECT_EQ(Get("/p/1").result_int(), 503u) << "the backend is down";
    std::this_thread::sleep_for(milliseconds(100));
  }
  Start();
  const auto restarted = steady_clock::now();
  Response back;
  while (steady_clock::now() - restarted < std::chrono::seconds(4)) {
    back = Get("/p/1");
    if (back.result_int() == 200) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(back.body(), kProduct1);
  EXPECT_LT(steady_clock::now() - restarted, milliseconds(3000))
      << "a restarted backend is tried again within the 1 s backoff cap (and slack)";
}

TEST_F(GrpcConnectionTest, CallsInFlightWhenTheBackendStopsGracefullyAreAnswered) {
  ASSERT_EQ(Get("/p/1").body(), kProduct1);
  // demo_grpc stops on SIGTERM with a 2 s grace: it sends GOAWAY and finishes the calls it has.
  std::vector<std::future<std::pair<Response, milliseconds>>> calls;
  // 1.2 s calls, the stop once they are on the backend: they end within its grace.
  for (int i = 0; i < 4; ++i) calls.push_back(GetLater("/slow/1200"));
  ASSERT_TRUE(Eventually([&] {
    return Sample(MetricsPage(*gateway_), "sluice_http_requests_in_flight", {"/slow/"}) == 4;
  }));
  std::this_thread::sleep_for(milliseconds(200));
  std::thread stop([this] { backend_->StopWith(SIGTERM); });
  for (auto& call : calls) {
    auto [r, took] = call.get();
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    EXPECT_EQ(r.body(), "{}");
  }
  stop.join();
  Start();
  Response r;
  for (int i = 0; i < 60; ++i) {
    r = Get("/p/2");
    if (r.result_int() == 200) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(r.body(), kProduct2) << "a new connection after the GOAWAY";
}

TEST_F(GrpcConnectionTest, ABackendThatDoesNotSpeakGrpcIs503AtOnceAndNothingElseSuffers) {
  ASSERT_EQ(Get("/p/1").body(), kProduct1);
  const int fds_before = OpenFds(gateway_->pid());
  for (const std::string target : {"/not-grpc/1", "/not-grpc-kept-open/1"}) {
    for (int i = 0; i < 3; ++i) {
      const auto start = steady_clock::now();
      Response r = Get(target);
      EXPECT_EQ(r.result_int(), 503u) << target;
      EXPECT_EQ(r.body(), R"({"code":14,"message":"backend unavailable"})") << target;
      EXPECT_LT(steady_clock::now() - start, milliseconds(2000))
          << target << ": not at the 3 s endpoint timeout";
    }
  }
  // Each failed attempt left nothing open (connections still closing get 2 s).
  int fds = OpenFds(gateway_->pid());
  for (int i = 0; i < 40 && fds > fds_before; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    fds = OpenFds(gateway_->pid());
  }
  EXPECT_LE(fds, fds_before);
  EXPECT_EQ(Get("/p/1").body(), kProduct1);
  // A peer that never answers: the call ends at its deadline (300 ms), as with gRPC C++.
  Response silent = Get("/silent/1");
  EXPECT_EQ(silent.result_int(), 504u);
  EXPECT_EQ(silent.body(), R"({"code":4,"message":"Deadline Exceeded"})");
}

// Every way the scripted backend ends a call, as the client sees it: gRPC's own mapping of
// statuses, resets and HTTP answers; the 4 MiB reply limit; a percent-encoded grpc-message.
TEST_F(GrpcConnectionTest, EveryWayABackendEndsACallIsMappedAsGrpcDoes) {
  const struct {
    std::string mode;
    unsigned status;
    std::string body;
  } kCases[] = {
      {"message", 400, R"({"code":3,"message":"café % done"})"},
      {"no-status", 500, R"({"code":2,"message":"the answer ended without a grpc-status"})"},
      {"http503", 503, R"({"code":14,"message":"backend unavailable"})"},
      {"calm", 429, R"({"code":8,"message":"the backend reset the call: ENHANCE_YOUR_CALM"})"},
      {"big", 429, R"({"code":8,"message":"the reply is larger than 4194304 bytes"})"},
  };
  auto call = [this](const std::string& mode, const std::string& id) {
    return Fetch(gateway_->port(), "GET", "/scripted/1", {{"X-Mode", mode}, {"X-Call", id}});
  };
  Response ok = call("ok", "ok-1");
  ASSERT_EQ(ok.result_int(), 200u) << ok.body();  // the scripted backend checked our headers
  EXPECT_NE(ok.body().find(R"("id":0)"), std::string::npos) << ok.body();
  for (const auto& c : kCases) {
    Response r = call(c.mode, c.mode);
    EXPECT_EQ(r.result_int(), c.status) << c.mode;
    EXPECT_EQ(r.body(), c.body) << c.mode;
    // The connection (or its replacement) serves the next call.
    EXPECT_EQ(call("ok", "after-" + c.mode).result_int(), 200u) << "after " << c.mode;
  }
}

// A call the backend refused without processing it (RST_STREAM REFUSED_STREAM, or a GOAWAY
// below its stream) is sent again on a new connection: the client sees only the answer.
TEST_F(GrpcConnectionTest, CallsTheBackendRefusedUnprocessedAreSentAgain) {
  for (const std::string mode : {"refuse-once", "goaway-once"}) {
    for (int i = 0; i < 3; ++i) {
      const std::string id = mode + "-" + std::to_string(i);
      Response r =
          Fetch(gateway_->port(), "GET", "/scripted/1", {{"X-Mode", mode}, {"X-Call", id}});
      EXPECT_EQ(r.result_int(), 200u) << mode << ": " << r.body();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Descriptors from server reflection, and catalog errors

TEST(GrpcReflectionTest, DescriptorsFromServerReflection) {
  ServerProcess shop("tools/demo_grpc/demo_grpc", {"--port", "0"}, kListening);
  SluiceProcess gateway(Fill(R"({"version": 3, "endpoints": [
      {"endpoint": "/p/{id}",
       "backend": [{"host": ["127.0.0.1:{{A}}"], "url_pattern": "/shop.Shop/GetProduct",
                    "extra_config": {"backend/grpc": {"descriptor_source": "reflection"}}}]}]})",
                             {{"A", std::to_string(shop.port())}}));
  Response r = Fetch(gateway.port(), "GET", "/p/1");
  EXPECT_EQ(r.result_int(), 200u) << gateway.log();
  EXPECT_EQ(r.body(), kProduct1);
}

TEST(GrpcCatalogTest, CheckAcceptsAGoodCatalogAndDescribesTheMethod) {
  const std::string path = WriteConfig(
      "catalog-good.json",
      R"({"version": 3, "extra_config": {"grpc": {"catalog": [")" + Protoset() +
          R"("]}}, "endpoints": [{"endpoint": "/p/{id}", "backend": [{"host": ["127.0.0.1:9"],)"
          R"( "url_pattern": "/shop.Shop/GetProduct", "extra_config": {"backend/grpc": {}}}]}]})");
  CommandResult check = RunSluice({"check", "-c", path, "-d"});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("  -> gRPC 127.0.0.1:9/shop.Shop/GetProduct\n"), std::string::npos)
      << check.out;
}

TEST(GrpcCatalogTest, CheckReportsEachCatalogAndMethodError) {
  const ClosedPort down;
  const std::string closed = std::to_string(down.port());
  struct Row {
    std::string name;
    std::string catalog;  // JSON array
    std::string backend_extra;
    std::string url_pattern;
    std::vector<std::string> expected;  // substrings of stderr
  };
  const std::string conflict = Runfile("tests/testdata/grpc/conflict.protoset");
  const std::string broken = Runfile("tests/testdata/grpc/broken.protoset");
  const Row rows[] = {
      {"missing",
       "[\"/nonexistent/x.protoset\"]",
       "{}",
       "/shop.Shop/GetProduct",
       {"extra_config.grpc.catalog[0]: /nonexistent/x.protoset: no such file or directory"}},
      {"broken",
       "[\"" + broken + "\"]",
       "{}",
       "/shop.Shop/GetProduct",
       {"extra_config.grpc.catalog[0]: " + broken + ": not a protobuf descriptor set"}},
      {"conflict",
       "[\"" + Protoset() + "\", \"" + conflict + "\"]",
       "{}",
       "/shop.Shop/GetProduct",
       {"extra_config.grpc.catalog: " + conflict, "\"shop.Kind\" is already defined"}},
      {"service",
       "[\"" + Protoset() + "\"]",
       "{}",
       "/shop.Nope/GetProduct",
       {"endpoints[0].backend[0].url_pattern: no catalog file describes the service "
        "\"shop.Nope\""}},
      {"method",
       "[\"" + Protoset() + "\"]",
       "{}",
       "/shop.Shop/Nope",
       {"endpoints[0].backend[0].url_pattern: \"shop.Shop\" has no method \"Nope\""}},
      {"pattern",
       "[\"" + Protoset() + "\"]",
       "{}",
       "/GetProduct",
       {"endpoints[0].backend[0].url_pattern: \"/GetProduct\" is not a gRPC method"}},
      {"mapping",
       "[\"" + Protoset() + "\"]",
       R"({"input_mapping": {"id": "product.id"}})",
       "/shop.Shop/GetProduct",
       {"endpoints[0].backend[0].extra_config.backend/grpc.input_mapping.id: \"product.id\" "
        "is not a field of shop.GetProductRequest"}},
      {"option",
       "[\"" + Protoset() + "\"]",
       R"({"output_enum_as_string": "yes"})",
       "/shop.Shop/GetProduct",
       {"endpoints[0].backend[0].extra_config.backend/grpc.output_enum_as_string: expected a "
        "boolean, got string"}},
      {"reflection",
       "[]",
       R"({"descriptor_source": "reflection"})",
       "/shop.Shop/GetProduct",
       {"endpoints[0].backend[0]: server reflection of 127.0.0.1:" + closed}},
  };
  for (const Row& row : rows) {
    const std::string path = WriteConfig(
        "catalog-" + row.name + ".json",
        R"({"version": 3, "extra_config": {"grpc": {"catalog": )" + row.catalog +
            R"(}}, "endpoints": [{"endpoint": "/p/{id}", "backend": [{"host": ["127.0.0.1:)" +
            closed + R"("], "url_pattern": ")" + row.url_pattern +
            R"(", "extra_config": {"backend/grpc": )" + row.backend_extra + "}}]}]}");
    CommandResult check = RunSluice({"check", "-c", path});
    EXPECT_EQ(check.exit_code, 1) << row.name << ": " << check.err;
    for (const std::string& text : row.expected) {
      EXPECT_NE(check.err.find(text), std::string::npos)
          << row.name << ": expected \"" << text << "\" in:\n"
          << check.err;
    }
  }
}

}  // namespace
}  // namespace sluice::testing
