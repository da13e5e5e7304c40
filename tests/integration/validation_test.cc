// validation/json-schema through the real binary: bodies the schema accepts reach the backend
// whole, the others get 400 (empty, or the reasons with router.return_error_msg) and never reach
// it; a long string against a `pattern` is refused instead of crashing std::regex; patterns run
// on RE2, so none can hold a worker; schemas Sluice cannot honour are refused by check.

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

constexpr char kSchema[] = R"({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["name", "age"],
  "properties": {
    "name": {"type": "string", "pattern": "^[a-z]+$"},
    "age": {"type": "integer", "minimum": 0},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}
  },
  "additionalProperties": false
})";

std::string Config(const std::string& backend, const std::string& schema, bool error_msg) {
  return std::string(R"({"version": 3, "extra_config": {"router": {"return_error_msg": )") +
         (error_msg ? "true" : "false") + R"(}, "telemetry/logging": {"level": "WARNING"}},
      "endpoints": [{"endpoint": "/people", "method": "POST",
        "extra_config": {"validation/json-schema": )" +
         schema + R"(}, "backend": [{"host": [")" + backend + R"("], "url_pattern": "/store"}]}]})";
}

Response Post(uint16_t port, const std::string& body) {
  return Fetch(port, "POST", "/people", {{"Content-Type", "application/json"}}, body);
}

TEST(JsonSchemaTest, OnlyBodiesTheSchemaAcceptsReachTheBackend) {
  TestBackend backend([](const Request& req) { return TestBackend::Json(req.body()); });
  SluiceProcess gw(Config(backend.url(), kSchema, false));
  const std::string good = R"({"name":"alice","age":30,"tags":["a"]})";
  Response ok = Post(gw.port(), good);
  EXPECT_EQ(ok.result_int(), 200u);
  EXPECT_EQ(backend.last_request().body(), good);

  const std::vector<std::pair<std::string, const char*>> bad = {
      {"", "no body"},
      {"{not json", "not JSON"},
      {R"({"name":"alice"})", "age missing"},
      {R"({"name":"alice","age":"30"})", "age a string"},
      {R"({"name":"Alice","age":30})", "name against the pattern"},
      {R"({"name":"alice","age":-1})", "below the minimum"},
      {R"({"name":"alice","age":1,"tags":["a","b","c","d"]})", "too many tags"},
      {R"({"name":"alice","age":1,"admin":true})", "an extra property"},
      {"[1,2]", "not an object"},
      // A valid body, a raw NUL, then anything: the parser used to stop at the NUL and pass the
      // schema, while the whole body went on to the backend.
      {std::string(R"({"name":"alice","age":30})") + '\0' + R"(,"admin":true})",
       "bytes after a NUL"},
  };
  for (const auto& [body, what] : bad) {
    Response r = Post(gw.port(), body);
    EXPECT_EQ(r.result_int(), 400u) << what;
    EXPECT_EQ(r.body(), "") << what;
    EXPECT_EQ(r["X-Krakend-Completed"], "false") << what;
  }
  EXPECT_EQ(backend.request_count(), 1u);
}

TEST(JsonSchemaTest, ReturnErrorMsgListsTheReasons) {
  TestBackend backend([](const Request& req) { return TestBackend::Json(req.body()); });
  SluiceProcess gw(Config(backend.url(), kSchema, true));
  Response r = Post(gw.port(), R"({"name":"alice","age":"x"})");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(r[boost::beast::http::field::content_type], "text/plain; charset=utf-8");
  EXPECT_EQ(r.body().rfind("- ", 0), 0u) << r.body();
  EXPECT_NE(r.body().find("age"), std::string::npos) << r.body();
  EXPECT_EQ(backend.request_count(), 0u);
}

TEST(JsonSchemaTest, ALongStringAgainstAPatternIsRefusedNotACrash) {
  TestBackend backend([](const Request& req) { return TestBackend::Json(req.body()); });
  SluiceProcess gw(Config(backend.url(), kSchema, true));
  // std::regex recurses per character: 50,000 matched against ^[a-z]+$ overflows an 8 MiB stack.
  for (size_t n : {5000u, 50000u, 500000u}) {
    Response r = Post(gw.port(), R"({"name":")" + std::string(n, 'a') + R"(","age":1})");
    EXPECT_EQ(r.result_int(), 400u) << n;
    EXPECT_NE(r.body().find("longer than 4096"), std::string::npos) << r.body();
  }
  Response ok = Post(gw.port(), R"({"name":")" + std::string(4000, 'a') + R"(","age":1})");
  EXPECT_EQ(ok.result_int(), 200u) << "the process is alive and a string under the limit passes";
}

// Nested quantifiers backtrack exponentially in std::regex: "a" x 36 then "!" against ^(a+)+$
// would hold a worker for hours (jsonschema_fuzz found a pattern that took over 11 s on "abc").
// Patterns run on RE2, in linear time, as Go's regexp does for KrakenD.
TEST(JsonSchemaTest, APatternThatBacktracksDoesNotHoldAWorker) {
  TestBackend backend([](const Request& req) { return TestBackend::Json(req.body()); });
  SluiceProcess gw(Config(backend.url(), R"({"type": "object",
      "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}},
      "patternProperties": {"^(b+)+$": {"type": "integer"}}})",
                          true));
  const auto start = std::chrono::steady_clock::now();
  Response bad = Post(gw.port(), R"({"s": ")" + std::string(36, 'a') + R"(!"})");
  EXPECT_EQ(bad.result_int(), 400u);
  EXPECT_NE(bad.body().find("pattern"), std::string::npos) << bad.body();
  Response bad_key = Post(gw.port(), R"({")" + std::string(36, 'b') + R"(": "x"})");
  EXPECT_EQ(bad_key.result_int(), 400u) << "a key the pattern matches holds a non-integer";
  Response odd_key = Post(gw.port(), R"({")" + std::string(36, 'b') + R"(!": "x"})");
  EXPECT_EQ(odd_key.result_int(), 200u) << "a key it does not match is free";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(Post(gw.port(), R"({"s": "aaaa", "bb": 2})").result_int(), 200u);
}

// Recursion through the value's parts (a tree) is ordinary: it ends with the body.
TEST(JsonSchemaTest, ARecursiveSchemaValidatesATree) {
  TestBackend backend([](const Request& req) { return TestBackend::Json(req.body()); });
  SluiceProcess gw(Config(backend.url(), R"({"type": "object", "required": ["name"],
      "properties": {"name": {"type": "string"},
                     "children": {"type": "array", "items": {"$ref": "#"}}}})",
                          true));
  EXPECT_EQ(
      Post(gw.port(), R"({"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]})")
          .result_int(),
      200u);
  Response bad = Post(gw.port(), R"({"name": "a", "children": [{"children": []}]})");
  EXPECT_EQ(bad.result_int(), 400u);
}

TEST(JsonSchemaTest, CheckRefusesSchemasItCannotHonour) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/schema.json";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"type": "object", "unevaluatedProperties": false})", "unevaluatedProperties"},
      {R"({"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}})",
       "not a usable JSON Schema"},
      {R"({"type": 5})", "not a usable JSON Schema"},
      {R"("just a string")", "validation/json-schema"},
      // Lookahead: ECMA 262 has it, Go's RE2 syntax (KrakenD's) does not.
      {R"({"properties": {"a": {"pattern": "^(?=x)x$"}}})",
       "is not a regular expression Sluice (and KrakenD: Go's RE2 syntax) can use"},
      {R"({"patternProperties": {"(": {}}})", "the pattern \"(\""},
      // valijson recursed until the stack ran out: check crashed on the first, and any body
      // crashed the gateway on the second (jsonschema_fuzz).
      {R"({"$ref": "#"})", "applies itself to the same value again"},
      {R"({"type": "object", "allOf": [{"$ref": "#"}]})", "applies itself to the same value again"},
      {R"({"definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"not": {"$ref": "#/definitions/a"}}},
          "$ref": "#/definitions/a"})",
       "applies itself to the same value again"},
      {R"({"$ref": "object", "properties": {}})", "\"$ref\": \"object\" points outside the schema"},
  };
  for (const auto& [schema, error] : cases) {
    std::ofstream(path) << Config("http://127.0.0.1:1", schema, false);
    CommandResult r = RunSluice({"check", "-c", path});
    EXPECT_NE(r.exit_code, 0) << schema;
    EXPECT_NE(r.err.find(error), std::string::npos) << schema << "\n" << r.err;
  }
}

}  // namespace
}  // namespace sluice::testing
