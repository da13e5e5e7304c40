// KrakenD compatibility of endpoint semantics (issue 4; docs/compat.md points at these tests):
// aggregation, shaping, flatmap, encodings, status/error policy, static responses, response
// headers and cache_ttl. The real sluice binary runs between a real client and one real HTTP
// backend on 127.0.0.1; every row asserts the exact status, Content-Type, X-Krakend-Completed,
// Cache-Control and body a client sees.
//
// Each table row carries its own endpoint config, so a row reads as "this config, this request,
// this answer". All rows are served by two gateway processes started once (a KrakenD service
// with and without router.return_error_msg), which keeps the suite fast.

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

namespace bhttp = boost::beast::http;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kAbsent[] = "<absent>";
constexpr char kAny[] = "<any>";  // not asserted (see the row's comment)
constexpr char kJson[] = "application/json; charset=utf-8";
constexpr char kText[] = "text/plain; charset=utf-8";
constexpr char kXml[] = "application/xml";
constexpr char kYaml[] = "application/yaml; charset=utf-8";

std::string Header(const Response& r, const std::string& name) {
  auto it = r.find(name);
  return it == r.end() ? kAbsent : std::string(it->value());
}

// ---------------------------------------------------------------------------------------------
// The backend: one HTTP server whose paths each answer one fixed way.

Response Body(unsigned status, const std::string& content_type, std::string body) {
  Response res(static_cast<bhttp::status>(status), 11);
  if (!content_type.empty()) res.set(bhttp::field::content_type, content_type);
  res.body() = std::move(body);
  return res;
}

// The document the shaping rows cut up.
constexpr char kDoc[] =
    R"({"id": 1, "name": "Ann", "secret": "x",
        "address": {"city": "Oslo", "zip": "0150", "geo": {"lat": 60, "lng": 11}},
        "data": {"user": {"id": 7, "email": "a@b.c", "password": "p"}, "score": 3}})";
// kDoc as the gateway renders it (keys sorted, compact).
constexpr char kDocRendered[] =
    R"({"address":{"city":"Oslo","geo":{"lat":60,"lng":11},"zip":"0150"},)"
    R"("data":{"score":3,"user":{"email":"a@b.c","id":7,"password":"p"}},"id":1,"name":"Ann","secret":"x"})";

// The document the flatmap rows edit.
constexpr char kItems[] =
    R"({"items": [{"id": 1, "price": 10, "internal": "x"}, {"id": 2, "price": 20, "internal": "y"}],
        "more": [{"id": 3, "price": 30, "internal": "z"}], "meta": {"page": 1, "total": 3}})";

// The delay of backend `n` (1..3) of /collide in run `run`: every permutation of arrival order
// occurs (so merging by arrival would change the winner), with random jitter on top; < 30 ms.
milliseconds CollideDelay(int run, int n) {
  static const int kPermutations[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                          {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  thread_local std::mt19937 rng{std::random_device{}()};
  const int slot = kPermutations[run % 6][n - 1];
  return milliseconds(10 * slot + std::uniform_int_distribution<int>(0, 9)(rng));
}

Response Route(const Request& req) {
  const std::string target(req.target());
  const std::string path = target.substr(0, target.find('?'));
  const std::string query = target.size() > path.size() ? target.substr(path.size() + 1) : "";
  const char* json = "application/json";

  if (path == "/m/a") return Body(200, json, R"({"a": 1})");
  if (path == "/m/b") return Body(200, json, R"({"b": {"x": 1}})");
  if (path == "/m/c") return Body(200, json, R"({"c": [1, 2]})");
  if (path.rfind("/collide/", 0) == 0) {
    const int n = std::atoi(path.c_str() + 9);
    const int run = query.rfind("run=", 0) == 0 ? std::atoi(query.c_str() + 4) : 0;
    std::this_thread::sleep_for(CollideDelay(run, n));  // simulated backend latency
    static const char* kNames[] = {"", "first", "second", "third"};
    return Body(
        200, json,
        std::string(R"({"k": ")") + kNames[n] + R"(", "from)" + std::to_string(n) + R"(": true})");
  }
  if (path.rfind("/wait/", 0) == 0) {
    std::this_thread::sleep_for(milliseconds(500));  // simulated backend latency
    return Body(200, json, R"({"w)" + path.substr(6) + R"(": true})");
  }
  if (path == "/slow") {
    std::this_thread::sleep_for(milliseconds(1500));  // simulated slow backend
    return Body(200, json, R"({"slow": true})");
  }
  if (path.rfind("/status/", 0) == 0) {
    const unsigned code = static_cast<unsigned>(std::atoi(path.c_str() + 8));
    if (code == 204) return Body(204, "", "");
    return Body(code, json, R"({"code": )" + std::to_string(code) + "}");
  }
  if (path == "/doc") return Body(200, json, kDoc);
  if (path == "/list")
    return Body(200, json, R"([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])");
  if (path == "/items") return Body(200, json, kItems);
  if (path == "/person")
    return Body(200, json, R"({"name": "Ann", "count": 7, "tags": ["a", "b"]})");
  if (path == "/enc/object") return Body(200, json, R"({"name": "Ann"})");
  if (path == "/enc/array") return Body(200, json, "[1, 2]");
  if (path == "/enc/scalar") return Body(200, json, "42");
  if (path == "/enc/text") return Body(200, "text/plain", "hi");
  if (path == "/enc/text-markup") return Body(200, "text/plain", "hello <world> & \"you\"");
  if (path == "/enc/xml-small")
    return Body(200, "application/xml", "<user><name>Ann</name></user>");
  if (path == "/enc/xml") {
    return Body(
        200, "application/xml",
        R"(<?xml version="1.0"?><user id="7"><name>Ann</name><tag>a</tag><tag>b</tag></user>)");
  }
  if (path == "/enc/bad") return Body(200, json, "not json {");
  if (path == "/enc/trailing") return Body(200, json, R"({"a": 1} {"b": 2})");
  if (path == "/enc/rss") {
    return Body(200, "application/rss+xml",
                R"(<rss version="2.0"><channel><title>T</title><item><title>A</title></item>)"
                R"(<item><title>B</title></item></channel></rss>)");
  }
  if (path == "/hdr") {
    Response res = Body(200, json, R"({"h": 1})");
    res.set("X-Rate-Limit", "10");
    res.set("X-Secret", "s3cr3t");
    res.set(bhttp::field::set_cookie, "sid=1");
    return res;
  }
  if (path == "/noop") {
    Response res = Body(404, "text/plain", "raw <not found>");
    res.set("X-Custom", "kept");
    res.insert(bhttp::field::set_cookie, "a=1; Path=/");
    res.insert(bhttp::field::set_cookie, "b=2; HttpOnly");
    return res;
  }
  if (path == "/empty") return Body(200, json, "{}");
  return Body(599, "text/plain", "no route for " + target);  // a test bug: fails loudly
}

// ---------------------------------------------------------------------------------------------
// Config builders. `extra` arguments are JSON members without a trailing comma.

// A backend object; the host comes from the service-level "host" unless `extra` sets one.
std::string Be(const std::string& url_pattern, const std::string& extra = "") {
  return R"({"url_pattern": ")" + url_pattern + "\"" + (extra.empty() ? "" : ", " + extra) + "}";
}

std::string Ep(const std::string& path, const std::vector<std::string>& backends,
               const std::string& extra = "") {
  std::string list;
  for (const std::string& b : backends) list += (list.empty() ? "" : ", ") + b;
  return R"({"endpoint": ")" + path + "\", " + (extra.empty() ? "" : extra + ", ") +
         R"("backend": [)" + list + "]}";
}

std::string BackendHttp(const std::string& members) {
  return R"("extra_config": {"backend/http": {)" + members + "}}";
}

std::string Static(const std::string& strategy) {
  return R"("extra_config": {"proxy": {"static": {"strategy": ")" + strategy +
         R"(", "data": {"a": "static", "s": 1}}}})";
}

// ---------------------------------------------------------------------------------------------
// The table.

enum class Gateway {
  kDefault,   // KrakenD defaults
  kErrorMsg,  // service extra_config router.return_error_msg: true, service cache_ttl 30s
};

struct Expect {
  unsigned status;
  std::string content_type;  // kAbsent: no Content-Type
  std::string completed;     // X-Krakend-Completed
  std::string cache_control;
  std::string body;
  Headers headers;  // more headers; kAbsent: must not be there
};

struct Case {
  std::string name;  // the gtest name docs/compat.md refers to
  Gateway gateway;
  std::string endpoint;  // the endpoint's config object; empty: declared by an earlier row
  std::string target;
  Headers request_headers;
  Expect expect;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

const std::vector<Case>& AggregationCases() {
  static const auto* cases = new std::vector<Case>{
      {"MergeThreeBackends",
       Gateway::kDefault,
       Ep("/agg/three", {Be("/m/a"), Be("/m/b"), Be("/m/c")}, R"("cache_ttl": "60s")"),
       "/agg/three",
       {},
       {200, kJson, "true", "public, max-age=60", R"({"a":1,"b":{"x":1},"c":[1,2]})", {}}},
      // Arrival order differs per run (see CollideDelay); the declared-last backend still wins.
      {"CollisionLaterDeclaredBackendWins",
       Gateway::kDefault,
       Ep("/agg/collide", {Be("/collide/1"), Be("/collide/2"), Be("/collide/3")},
          R"("input_query_strings": ["run"])"),
       "/agg/collide?run=5",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"from1":true,"from2":true,"from3":true,"k":"third"})",
        {}}},
      // KrakenD's documented workaround for collisions: group each backend.
      {"GroupAvoidsCollisions",
       Gateway::kDefault,
       Ep("/agg/grouped", {Be("/m/a", R"("group": "first")"), Be("/m/a", R"("group": "second")")}),
       "/agg/grouped",
       {},
       {200, kJson, "true", kAbsent, R"({"first":{"a":1},"second":{"a":1}})", {}}},
      {"PartialFailure",
       Gateway::kDefault,
       Ep("/agg/partial", {Be("/m/a"), Be("/status/503"), Be("/m/c")}, R"("cache_ttl": "60s")"),
       "/agg/partial",
       {},
       {200, kJson, "false", kAbsent, R"({"a":1,"c":[1,2]})", {}}},
      {"PartialFailureConnectionRefused",
       Gateway::kDefault,
       Ep("/agg/partial-down", {Be("/m/a"), Be("/m/b", R"("host": ["$DEAD"])")}),
       "/agg/partial-down",
       {},
       {200, kJson, "false", kAbsent, R"({"a":1})", {}}},
      {"AllFail",
       Gateway::kDefault,
       Ep("/agg/all-fail",
          {Be("/status/500"), Be("/status/404"), Be("/m/a", R"("host": ["$DEAD"])")},
          R"("cache_ttl": "60s")"),
       "/agg/all-fail",
       {},
       {500, kAbsent, "false", kAbsent, "", {}}},
      {"CacheTtlPerEndpoint",
       Gateway::kDefault,
       Ep("/agg/cached", {Be("/m/a")}, R"("cache_ttl": "1m30s")"),
       "/agg/cached",
       {},
       {200, kJson, "true", "public, max-age=90", R"({"a":1})", {}}},
      {"NoCacheTtlNoCacheControl",
       Gateway::kDefault,
       Ep("/agg/uncached", {Be("/m/a")}),
       "/agg/uncached",
       {},
       {200, kJson, "true", kAbsent, R"({"a":1})", {}}},
      {"CacheTtlInheritedFromService",
       Gateway::kErrorMsg,
       Ep("/agg/svc-cached", {Be("/m/a")}),
       "/agg/svc-cached",
       {},
       {200, kJson, "true", "public, max-age=30", R"({"a":1})", {}}},
      {"CacheTtlEndpointOverridesService",
       Gateway::kErrorMsg,
       Ep("/agg/ep-cached", {Be("/m/a")}, R"("cache_ttl": "5s")"),
       "/agg/ep-cached",
       {},
       {200, kJson, "true", "public, max-age=5", R"({"a":1})", {}}},
  };
  return *cases;
}

const std::vector<Case>& ShapingCases() {
  static const auto* cases = new std::vector<Case>{
      {"None",
       Gateway::kDefault,
       Ep("/shape/none", {Be("/doc")}),
       "/shape/none",
       {},
       {200, kJson, "true", kAbsent, kDocRendered, {}}},
      {"Target",
       Gateway::kDefault,
       Ep("/shape/target", {Be("/doc", R"("target": "data.user")")}),
       "/shape/target",
       {},
       {200, kJson, "true", kAbsent, R"({"email":"a@b.c","id":7,"password":"p"})", {}}},
      {"TargetMissingGivesEmptyObject",
       Gateway::kDefault,
       Ep("/shape/target-missing", {Be("/doc", R"("target": "data.nope")")}),
       "/shape/target-missing",
       {},
       {200, kJson, "false", kAbsent, "{}", {}}},
      {"Allow",
       Gateway::kDefault,
       Ep("/shape/allow", {Be("/doc", R"("allow": ["name", "address.city", "data.user.id"])")}),
       "/shape/allow",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"address":{"city":"Oslo"},"data":{"user":{"id":7}},"name":"Ann"})",
        {}}},
      {"Deny",
       Gateway::kDefault,
       Ep("/shape/deny",
          {Be("/doc", R"("deny": ["secret", "address.geo", "data.user.password"])")}),
       "/shape/deny",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"address":{"city":"Oslo","zip":"0150"},"data":{"score":3,"user":{"email":"a@b.c","id":7}},"id":1,"name":"Ann"})",
        {}}},
      {"Mapping",
       Gateway::kDefault,
       Ep("/shape/mapping", {Be("/doc", R"("mapping": {"name": "full_name", "id": "user_id"})")}),
       "/shape/mapping",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"address":{"city":"Oslo","geo":{"lat":60,"lng":11},"zip":"0150"},)"
        R"("data":{"score":3,"user":{"email":"a@b.c","id":7,"password":"p"}},"full_name":"Ann","secret":"x","user_id":1})",
        {}}},
      {"Group",
       Gateway::kDefault,
       Ep("/shape/group", {Be("/doc", R"("group": "person")")}),
       "/shape/group",
       {},
       {200, kJson, "true", kAbsent, std::string(R"({"person":)") + kDocRendered + "}", {}}},
      {"IsCollection",
       Gateway::kDefault,
       Ep("/shape/collection", {Be("/list", R"("is_collection": true)")}),
       "/shape/collection",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"collection":[{"id":1,"name":"a"},{"id":2,"name":"b"}]})",
        {}}},
      // KrakenD ce#445: an array from a plain json backend is a failed backend.
      {"ArrayWithoutIsCollectionFails",
       Gateway::kDefault,
       Ep("/shape/array-no-collection", {Be("/list")}),
       "/shape/array-no-collection",
       {},
       {500, kAbsent, "false", kAbsent, "", {}}},
      // Order target -> allow -> mapping -> group; deny is ignored next to allow (Lura).
      {"CombinedTargetAllowDenyMappingGroup",
       Gateway::kDefault,
       Ep("/shape/combined",
          {Be("/doc", R"("target": "data", "allow": ["user.id", "user.email", "score"],
                         "deny": ["score", "user.id"], "mapping": {"score": "points"},
                         "group": "result")")}),
       "/shape/combined",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"result":{"points":3,"user":{"email":"a@b.c","id":7}}})",
        {}}},
      {"CombinedCollectionDenyMappingGroup",
       Gateway::kDefault,
       Ep("/shape/combined-collection", {Be("/list", R"("is_collection": true, "deny": ["nothing"],
                          "mapping": {"collection": "items"}, "group": "list")")}),
       "/shape/combined-collection",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"list":{"items":[{"id":1,"name":"a"},{"id":2,"name":"b"}]}})",
        {}}},
      // All six keys on one backend: the collection wrapper comes first, target cannot step into
      // an array (-> {}), and group still wraps the empty result.
      {"CombinedAllSixKeys",
       Gateway::kDefault,
       Ep("/shape/combined-all",
          {Be("/list", R"("is_collection": true, "target": "collection", "allow": ["id"],
                          "deny": ["name"], "mapping": {"id": "ident"}, "group": "g")")}),
       "/shape/combined-all",
       {},
       {200, kJson, "true", kAbsent, R"({"g":{}})", {}}},
  };
  return *cases;
}

std::string Flatmap(const std::string& ops, const std::string& more = "") {
  return R"("extra_config": {"proxy": {"flatmap_filter": [)" + ops + "]}}" +
         (more.empty() ? "" : ", " + more);
}

const std::vector<Case>& FlatmapCases() {
  static const auto* cases = new std::vector<Case>{
      {"MoveWithWildcard",
       Gateway::kDefault,
       Ep("/flatmap/move",
          {Be("/items",
              Flatmap(R"({"type": "move", "args": ["items.*.price", "items.*.cost"]})"))}),
       "/flatmap/move",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"items":[{"cost":10,"id":1,"internal":"x"},{"cost":20,"id":2,"internal":"y"}],)"
        R"("meta":{"page":1,"total":3},"more":[{"id":3,"internal":"z","price":30}]})",
        {}}},
      {"MoveNested",
       Gateway::kDefault,
       Ep("/flatmap/move-nested",
          {Be("/items", Flatmap(R"({"type": "move", "args": ["meta.total", "total"]})"))}),
       "/flatmap/move-nested",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"items":[{"id":1,"internal":"x","price":10},{"id":2,"internal":"y","price":20}],)"
        R"("meta":{"page":1},"more":[{"id":3,"internal":"z","price":30}],"total":3})",
        {}}},
      {"DelWithWildcard",
       Gateway::kDefault,
       Ep("/flatmap/del",
          {Be("/items", Flatmap(R"({"type": "del", "args": ["items.*.internal", "meta"]})"))}),
       "/flatmap/del",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"items":[{"id":1,"price":10},{"id":2,"price":20}],"more":[{"id":3,"internal":"z","price":30}]})",
        {}}},
      {"Append",
       Gateway::kDefault,
       Ep("/flatmap/append",
          {Be("/items", Flatmap(R"({"type": "append", "args": ["more", "items"]})"))}),
       "/flatmap/append",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"items":[{"id":1,"internal":"x","price":10},{"id":2,"internal":"y","price":20},)"
        R"({"id":3,"internal":"z","price":30}],"meta":{"page":1,"total":3}})",
        {}}},
      {"AllOpsInOrderThenGroup",
       Gateway::kDefault,
       Ep("/flatmap/all", {Be("/items", Flatmap(R"({"type": "append", "args": ["more", "items"]},
                                   {"type": "move", "args": ["items.*.price", "items.*.cost"]},
                                   {"type": "del", "args": ["items.*.internal", "meta.page"]})",
                                                R"("group": "shop")"))}),
       "/flatmap/all",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"shop":{"items":[{"cost":10,"id":1},{"cost":20,"id":2},{"cost":30,"id":3}],"meta":{"total":3}}})",
        {}}},
      // Lura's flatmap formatter replaces the basic one: allow, deny and mapping are ignored.
      {"IgnoresAllowDenyMapping",
       Gateway::kDefault,
       Ep("/flatmap/ignores",
          {Be("/items",
              Flatmap(R"({"type": "del", "args": ["more", "items"]})",
                      R"("allow": ["items"], "deny": ["meta"], "mapping": {"meta": "m"})"))}),
       "/flatmap/ignores",
       {},
       {200, kJson, "true", kAbsent, R"({"meta":{"page":1,"total":3}})", {}}},
  };
  return *cases;
}

const std::vector<Case>& BackendEncodingCases() {
  static const auto* cases = new std::vector<Case>{
      {"Json",
       Gateway::kDefault,
       Ep("/benc/json", {Be("/enc/object")}),
       "/benc/json",
       {},
       {200, kJson, "true", kAbsent, R"({"name":"Ann"})", {}}},
      {"SafeJsonObject",
       Gateway::kDefault,
       Ep("/benc/safejson-object", {Be("/enc/object", R"("encoding": "safejson")")}),
       "/benc/safejson-object",
       {},
       {200, kJson, "true", kAbsent, R"({"name":"Ann"})", {}}},
      {"SafeJsonArray",
       Gateway::kDefault,
       Ep("/benc/safejson-array", {Be("/enc/array", R"("encoding": "safejson")")}),
       "/benc/safejson-array",
       {},
       {200, kJson, "true", kAbsent, R"({"collection":[1,2]})", {}}},
      {"SafeJsonScalar",
       Gateway::kDefault,
       Ep("/benc/safejson-scalar", {Be("/enc/scalar", R"("encoding": "safejson")")}),
       "/benc/safejson-scalar",
       {},
       {200, kJson, "true", kAbsent, R"({"content":42})", {}}},
      {"String",
       Gateway::kDefault,
       Ep("/benc/string", {Be("/enc/text-markup", R"("encoding": "string")")}),
       "/benc/string",
       {},
       {200, kJson, "true", kAbsent, R"({"content":"hello <world> & \"you\""})", {}}},
      {"Xml",
       Gateway::kDefault,
       Ep("/benc/xml", {Be("/enc/xml", R"("encoding": "xml")")}),
       "/benc/xml",
       {},
       {200, kJson, "true", kAbsent, R"({"user":{"-id":"7","name":"Ann","tag":["a","b"]}})", {}}},
      {"XmlShapedByDotPaths",
       Gateway::kDefault,
       Ep("/benc/xml-shaped",
          {Be("/enc/xml", R"("encoding": "xml", "target": "user", "allow": ["name", "tag"])")}),
       "/benc/xml-shaped",
       {},
       {200, kJson, "true", kAbsent, R"({"name":"Ann","tag":["a","b"]})", {}}},
      // Read as plain XML (KrakenD parses feeds with gofeed into its own item model).
      {"RssAsPlainXml",
       Gateway::kDefault,
       Ep("/benc/rss", {Be("/enc/rss", R"("encoding": "rss", "target": "rss.channel")")}),
       "/benc/rss",
       {},
       {200, kJson, "true", kAbsent, R"({"item":[{"title":"A"},{"title":"B"}],"title":"T"})", {}}},
      // Go's json.Decoder (KrakenD) stops after the first value; Sluice refuses trailing data.
      {"JsonTrailingDataIsAFailure",
       Gateway::kDefault,
       Ep("/benc/trailing", {Be("/enc/trailing")}),
       "/benc/trailing",
       {},
       {500, kAbsent, "false", kAbsent, "", {}}},
      // Invalid payload for the encoding: that backend failed (the log line is checked by
      // CompatLogTest.InvalidPayloadNamesBackendAndReason).
      {"InvalidPayloadIsAFailedBackend",
       Gateway::kDefault,
       Ep("/benc/invalid", {Be("/m/a"), Be("/enc/bad")}),
       "/benc/invalid",
       {},
       {200, kJson, "false", kAbsent, R"({"a":1})", {}}},
  };
  return *cases;
}

const std::vector<Case>& OutputEncodingCases() {
  const std::string person = R"({"count":7,"name":"Ann","tags":["a","b"]})";
  const std::string person_xml =
      "<response><count>7</count><name>Ann</name><tags>a</tags><tags>b</tags></response>";
  const std::string person_yaml = "count: 7\nname: Ann\ntags:\n  - a\n  - b\n";
  static const auto* cases = new std::vector<Case>{
      {"Json",
       Gateway::kDefault,
       Ep("/out/json", {Be("/person")}, R"("output_encoding": "json")"),
       "/out/json",
       {},
       {200, kJson, "true", kAbsent, person, {}}},
      {"JsonCollection",
       Gateway::kDefault,
       Ep("/out/json-collection", {Be("/list", R"("is_collection": true)")},
          R"("output_encoding": "json-collection")"),
       "/out/json-collection",
       {},
       {200, kJson, "true", kAbsent, R"([{"id":1,"name":"a"},{"id":2,"name":"b"}])", {}}},
      {"JsonCollectionWithoutCollection",
       Gateway::kDefault,
       Ep("/out/json-collection-none", {Be("/person")}, R"("output_encoding": "json-collection")"),
       "/out/json-collection-none",
       {},
       {200, kJson, "true", kAbsent, "[]", {}}},
      {"String",
       Gateway::kDefault,
       Ep("/out/string", {Be("/enc/text-markup", R"("encoding": "string")")},
          R"("output_encoding": "string")"),
       "/out/string",
       {},
       {200, kText, "true", kAbsent, "hello <world> & \"you\"", {}}},
      {"Xml",
       Gateway::kDefault,
       Ep("/out/xml", {Be("/person")}, R"("output_encoding": "xml")"),
       "/out/xml",
       {},
       {200, kXml, "true", kAbsent, person_xml, {}}},
      {"Yaml",
       Gateway::kDefault,
       Ep("/out/yaml", {Be("/person")}, R"("output_encoding": "yaml")"),
       "/out/yaml",
       {},
       {200, kYaml, "true", kAbsent, person_yaml, {}}},
      {"NegotiateJson",
       Gateway::kDefault,
       Ep("/out/negotiate", {Be("/person")}, R"("output_encoding": "negotiate")"),
       "/out/negotiate",
       {{"Accept", "application/json"}},
       {200, kJson, "true", kAbsent, person, {}}},
      {"NegotiateXml",
       Gateway::kDefault,
       "",
       "/out/negotiate",
       {{"Accept", "application/xml"}},
       {200, kXml, "true", kAbsent, person_xml, {}}},
      {"NegotiateYaml",
       Gateway::kDefault,
       "",
       "/out/negotiate",
       {{"Accept", "application/x-yaml"}},
       {200, kYaml, "true", kAbsent, person_yaml, {}}},
      {"NegotiatePlainTextIsYaml",
       Gateway::kDefault,
       "",
       "/out/negotiate",
       {{"Accept", "text/plain"}},
       {200, kYaml, "true", kAbsent, person_yaml, {}}},
      {"NegotiateNoAcceptIsJson",
       Gateway::kDefault,
       "",
       "/out/negotiate",
       {},
       {200, kJson, "true", kAbsent, person, {}}},
      // renderers.h: "Callers should add `Vary: Accept` to negotiated answers". Without it a
      // shared cache honouring `Cache-Control: public` serves one client's XML to the next.
      {"NegotiatedCacheableAnswerVariesOnAccept",
       Gateway::kDefault,
       Ep("/out/negotiate-cached", {Be("/person")},
          R"("output_encoding": "negotiate", "cache_ttl": "60s")"),
       "/out/negotiate-cached",
       {{"Accept", "application/xml"}},
       {200, kXml, "true", "public, max-age=60", person_xml, {{"Vary", "Accept"}}}},
      // no-op: status, headers and body of the backend unchanged; X-Krakend-Completed: false,
      // since Lura's handler calls complete only an answer with decoded data.
      {"NoOpPassesStatusHeadersBody",
       Gateway::kDefault,
       Ep("/out/noop", {Be("/noop")}, R"("output_encoding": "no-op")"),
       "/out/noop",
       {},
       {404, "text/plain", "false", kAbsent, "raw <not found>", {{"X-Custom", "kept"}}}},
      // An empty answer is not "complete" for Lura's handler, and so not cacheable.
      {"EmptyAnswerIsIncompleteAndUncached",
       Gateway::kDefault,
       Ep("/out/empty", {Be("/empty")}, R"("cache_ttl": "60s")"),
       "/out/empty",
       {},
       {200, kJson, "false", kAbsent, "{}", {}}},
      // A no-op *backend* in a rendering endpoint: its body is not read, any status passes, and
      // it adds nothing (Lura's no-op parser); the other backend's data makes the answer.
      {"NoOpBackendAddsNothingToAMerge",
       Gateway::kDefault,
       Ep("/out/noop-merge", {Be("/m/a"), Be("/noop", R"("encoding": "no-op")")}),
       "/out/noop-merge",
       {},
       {200, kJson, "true", kAbsent, R"({"a":1})", {{"X-Custom", kAbsent}}}},
      {"NoOpBackendAloneRendersEmpty",
       Gateway::kDefault,
       Ep("/out/noop-json", {Be("/noop", R"("encoding": "no-op")")}),
       "/out/noop-json",
       {},
       {200, kJson, "false", kAbsent, "{}", {{"X-Custom", kAbsent}}}},
      // KrakenD 2.13's sequential_propagated_params with a no-op first backend (its docs'
      // example, less the Lua that would read the propagated body): the chain runs.
      {"SequentialNoOpFirstWithPropagatedParams",
       Gateway::kDefault,
       Ep("/out/seq-propagate", {Be("/noop", R"("encoding": "no-op")"), Be("/m/a")},
          R"("extra_config": {"proxy": {"sequential": true,
              "sequential_propagated_params": ["resp0", "resp0_a.b"]}})"),
       "/out/seq-propagate",
       {},
       {200, kJson, "true", kAbsent, R"({"a":1})", {}}},
  };
  return *cases;
}

// Every backend encoding (rows) through every rendering output encoding (columns).
const std::vector<Case>& EncodingPairCases() {
  struct BackendKind {
    const char* name;
    std::string backend;
    std::string json, collection, string, xml, yaml;
  };
  const std::vector<BackendKind> kinds = {
      {"Json", Be("/enc/object"), R"({"name":"Ann"})", "[]", "",
       "<response><name>Ann</name></response>", "name: Ann\n"},
      {"SafeJson", Be("/enc/array", R"("encoding": "safejson")"), R"({"collection":[1,2]})",
       "[1,2]", "", "<response><collection>1</collection><collection>2</collection></response>",
       "collection:\n  - 1\n  - 2\n"},
      {"String", Be("/enc/text", R"("encoding": "string")"), R"({"content":"hi"})", "[]", "hi",
       "<response><content>hi</content></response>", "content: hi\n"},
      {"Xml", Be("/enc/xml-small", R"("encoding": "xml")"), R"({"user":{"name":"Ann"}})", "[]", "",
       "<response><user><name>Ann</name></user></response>", "user:\n  name: Ann\n"},
  };
  static auto* cases = new std::vector<Case>();
  if (!cases->empty()) return *cases;
  for (const BackendKind& k : kinds) {
    const std::vector<std::tuple<std::string, std::string, const char*, std::string>> outputs = {
        {"Json", "json", kJson, k.json},
        {"JsonCollection", "json-collection", kJson, k.collection},
        {"String", "string", kText, k.string},
        {"Xml", "xml", kXml, k.xml},
        {"Yaml", "yaml", kYaml, k.yaml},
        {"Negotiate", "negotiate", kJson, k.json},
    };
    for (const auto& [out_name, encoding, content_type, body] : outputs) {
      const std::string path = std::string("/pair/") + k.name + "/" + encoding;
      cases->push_back({std::string(k.name) + "To" + out_name,
                        Gateway::kDefault,
                        Ep(path, {k.backend}, R"("output_encoding": ")" + encoding + "\""),
                        path,
                        {},
                        {200, content_type, "true", kAbsent, body, {}}});
    }
  }
  return *cases;
}

const std::vector<Case>& ErrorPolicyCases() {
  const std::string details404 =
      R"({"error_remote":{"http_body":"{\"code\": 404}","http_body_encoding":"application/json","http_status_code":404}})";
  static const auto* cases = new std::vector<Case>{
      {"Default404Is500EmptyBody",
       Gateway::kDefault,
       Ep("/err/default", {Be("/status/404")}),
       "/err/default",
       {},
       {500, kAbsent, "false", kAbsent, "", {}}},
      {"Default201IsSuccess",
       Gateway::kDefault,
       Ep("/err/201", {Be("/status/201")}),
       "/err/201",
       {},
       {200, kJson, "true", kAbsent, R"({"code":201})", {}}},
      {"Default202IsFailure",
       Gateway::kDefault,
       Ep("/err/202", {Be("/status/202")}),
       "/err/202",
       {},
       {500, kAbsent, "false", kAbsent, "", {}}},
      {"Default204IsFailure",
       Gateway::kDefault,
       Ep("/err/204", {Be("/status/204")}),
       "/err/204",
       {},
       {500, kAbsent, "false", kAbsent, "", {}}},
      {"ReturnErrorCode",
       Gateway::kDefault,
       Ep("/err/code", {Be("/status/404", BackendHttp(R"("return_error_code": true)"))}),
       "/err/code",
       {},
       {404, kAbsent, "false", kAbsent, "", {}}},
      {"ReturnErrorCodeWithReturnErrorMsg",
       Gateway::kErrorMsg,
       Ep("/err/code-msg", {Be("/status/404", BackendHttp(R"("return_error_code": true)"))}),
       "/err/code-msg",
       {},
       {404, kText, "false", kAbsent, R"({"code": 404})", {}}},
      // Without return_error_code the backend's body is not the error: KrakenD's default status
      // handler does not read it, so the client gets the error text, not backend internals.
      // The text names the backend's method, its url_pattern as Lura keeps it and the URL.
      {"ReturnErrorMsgAlone",
       Gateway::kErrorMsg,
       Ep("/err/msg", {Be("/status/404")}),
       "/err/msg",
       {},
       {500,
        kText,
        "false",
        kAbsent,
        "invalid status code 404 [GET /status/404]: $BACKEND/status/404",
        {}}},
      {"ReturnErrorMsgNamesPatternAndUrl",
       Gateway::kErrorMsg,
       Ep("/err/msg/{code}", {Be("/status/{code}?x=1", R"("method": "post")")}),
       "/err/msg/503",
       {},
       {500,
        kText,
        "false",
        kAbsent,
        "invalid status code 503 [POST /status/{{.Code}}?x=1]: $BACKEND/status/503?x=1",
        {}}},
      // No-op endpoints answer a transport failure with the error text too (Lura's handler).
      {"ReturnErrorMsgNoOpTransportFailure",
       Gateway::kErrorMsg,
       Ep("/err/msg-noop", {Be("/noop", R"("host": ["$DEAD"])")}, R"("output_encoding": "no-op")"),
       "/err/msg-noop",
       {},
       {500, kText, "false", kAbsent, kAny, {}}},
      {"ReturnErrorMsgDoesNotTouchSuccess",
       Gateway::kErrorMsg,
       Ep("/err/msg-ok", {Be("/m/a")}),
       "/err/msg-ok",
       {},
       {200, kJson, "true", "public, max-age=30", R"({"a":1})", {}}},
      {"ReturnErrorDetails",
       Gateway::kDefault,
       Ep("/err/details", {Be("/status/404", BackendHttp(R"("return_error_details": "remote")"))}),
       "/err/details",
       {},
       {200, kJson, "false", kAbsent, details404, {}}},
      {"ReturnErrorDetailsBesideSuccess",
       Gateway::kDefault,
       Ep("/err/details-partial",
          {Be("/m/a"), Be("/status/503", BackendHttp(R"("return_error_details": "flaky")"))}),
       "/err/details-partial",
       {},
       {200,
        kJson,
        "false",
        kAbsent,
        R"({"a":1,"error_flaky":{"http_body":"{\"code\": 503}","http_body_encoding":"application/json","http_status_code":503}})",
        {}}},
      {"SuccessStatus2xxAccepts202",
       Gateway::kDefault,
       Ep("/err/2xx-202",
          {Be("/status/202", R"("extra_config": {"sluice/backend": {"success_status": "2xx"}})")}),
       "/err/2xx-202",
       {},
       {200, kJson, "true", kAbsent, R"({"code":202})", {}}},
      // A 204 has no body by definition; counting it as success must not then fail to decode it.
      {"SuccessStatus2xxAccepts204",
       Gateway::kDefault,
       Ep("/err/2xx-204",
          {Be("/status/204", R"("extra_config": {"sluice/backend": {"success_status": "2xx"}})")}),
       "/err/2xx-204",
       {},
       {200, kJson, "false", kAbsent, "{}", {}}},
      {"SuccessStatus2xxStillFails404",
       Gateway::kDefault,
       Ep("/err/2xx-404",
          {Be("/status/404", R"("extra_config": {"sluice/backend": {"success_status": "2xx"}})")}),
       "/err/2xx-404",
       {},
       {500, kAbsent, "false", kAbsent, "", {}}},
  };
  return *cases;
}

const std::vector<Case>& StaticCases() {
  const std::string with_static = R"({"a":"static","s":1})";
  const std::string without = R"({"a":1})";
  // Each strategy in a case where it applies and one where it does not. Static data overwrites
  // backend keys ("a"), as Lura's static proxy does.
  static const auto* cases = new std::vector<Case>{
      {"AlwaysOnSuccess",
       Gateway::kDefault,
       Ep("/static/always-ok", {Be("/m/a")}, Static("always")),
       "/static/always-ok",
       {},
       {200, kJson, "true", kAbsent, with_static, {}}},
      {"AlwaysOnPartial",
       Gateway::kDefault,
       Ep("/static/always-partial", {Be("/m/a"), Be("/status/500")}, Static("always")),
       "/static/always-partial",
       {},
       {200, kJson, "false", kAbsent, with_static, {}}},
      {"SuccessApplies",
       Gateway::kDefault,
       Ep("/static/success-ok", {Be("/m/a")}, Static("success")),
       "/static/success-ok",
       {},
       {200, kJson, "true", kAbsent, with_static, {}}},
      {"SuccessNotOnPartial",
       Gateway::kDefault,
       Ep("/static/success-partial", {Be("/m/a"), Be("/status/500")}, Static("success")),
       "/static/success-partial",
       {},
       {200, kJson, "false", kAbsent, without, {}}},
      {"SuccessNotWhenAllFail",
       Gateway::kDefault,
       Ep("/static/success-fail", {Be("/status/500")}, Static("success")),
       "/static/success-fail",
       {},
       {500, kAbsent, "false", kAbsent, "", {}}},
      {"CompleteApplies",
       Gateway::kDefault,
       Ep("/static/complete-ok", {Be("/m/a")}, Static("complete")),
       "/static/complete-ok",
       {},
       {200, kJson, "true", kAbsent, with_static, {}}},
      {"CompleteNotOnPartial",
       Gateway::kDefault,
       Ep("/static/complete-partial", {Be("/m/a"), Be("/status/500")}, Static("complete")),
       "/static/complete-partial",
       {},
       {200, kJson, "false", kAbsent, without, {}}},
      {"ErroredAppliesOnPartial",
       Gateway::kDefault,
       Ep("/static/errored-partial", {Be("/m/a"), Be("/status/500")}, Static("errored")),
       "/static/errored-partial",
       {},
       {200, kJson, "false", kAbsent, with_static, {}}},
      {"ErroredAppliesWhenAllFail",
       Gateway::kDefault,
       Ep("/static/errored-fail", {Be("/status/500")}, Static("errored")),
       "/static/errored-fail",
       {},
       {200, kJson, "false", kAbsent, with_static, {}}},
      {"ErroredNotOnSuccess",
       Gateway::kDefault,
       Ep("/static/errored-ok", {Be("/m/a")}, Static("errored")),
       "/static/errored-ok",
       {},
       {200, kJson, "true", kAbsent, without, {}}},
      {"IncompleteAppliesOnPartial",
       Gateway::kDefault,
       Ep("/static/incomplete-partial", {Be("/m/a"), Be("/status/500")}, Static("incomplete")),
       "/static/incomplete-partial",
       {},
       {200, kJson, "false", kAbsent, with_static, {}}},
      {"IncompleteNotOnSuccess",
       Gateway::kDefault,
       Ep("/static/incomplete-ok", {Be("/m/a")}, Static("incomplete")),
       "/static/incomplete-ok",
       {},
       {200, kJson, "true", kAbsent, without, {}}},
  };
  return *cases;
}

const std::vector<Case>& HeaderCases() {
  static const auto* cases = new std::vector<Case>{
      {"BackendHeadersNotReturnedByDefault",
       Gateway::kDefault,
       Ep("/hdr/default", {Be("/hdr")}),
       "/hdr/default",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"h":1})",
        {{"X-Rate-Limit", kAbsent}, {"X-Secret", kAbsent}, {"Set-Cookie", kAbsent}}}},
      {"ReturnHeadersAllowList",
       Gateway::kDefault,
       Ep("/hdr/allowed",
          {Be("/hdr",
              R"("extra_config": {"sluice/backend": {"return_headers": ["x-rate-limit", "Set-Cookie"]}})")}),
       "/hdr/allowed",
       {},
       {200,
        kJson,
        "true",
        kAbsent,
        R"({"h":1})",
        {{"X-Rate-Limit", "10"}, {"Set-Cookie", "sid=1"}, {"X-Secret", kAbsent}}}},
  };
  return *cases;
}

std::vector<const std::vector<Case>*> AllTables() {
  return {&AggregationCases(),     &ShapingCases(),        &FlatmapCases(),
          &BackendEncodingCases(), &OutputEncodingCases(), &EncodingPairCases(),
          &ErrorPolicyCases(),     &StaticCases(),         &HeaderCases()};
}

// ---------------------------------------------------------------------------------------------
// The shared environment: the backend, a closed port, and the two gateways serving every row.

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

// Endpoints outside the tables, used by the TESTs below.
std::string ExtraEndpoints() {
  return Ep("/timeout/partial", {Be("/m/a"), Be("/slow")},
            R"("timeout": "400ms", "cache_ttl": "60s")") +
         ", " + Ep("/timeout/all", {Be("/slow")}, R"("timeout": "400ms")") + ", " +
         Ep("/agg/parallel", {Be("/wait/1"), Be("/wait/2"), Be("/wait/3")});
}

class CompatEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    backend_ = std::make_unique<TestBackend>(&Route);
    dead_url_ = dead_.url();
    std::string default_endpoints = ExtraEndpoints();
    std::string error_msg_endpoints;
    for (const std::vector<Case>* table : AllTables()) {
      for (const Case& c : *table) {
        if (c.endpoint.empty()) continue;
        std::string& list =
            c.gateway == Gateway::kDefault ? default_endpoints : error_msg_endpoints;
        list += (list.empty() ? "" : ", ") + ReplaceAll(c.endpoint, "$DEAD", dead_url_);
      }
    }
    const std::string common =
        R"("version": 3, "name": "compat", "host": [")" + backend_->url() + R"("],)";
    default_ = std::make_unique<SluiceProcess>("{" + common +
                                               R"( "extra_config": {"sluice/http": {"workers": 2},
          "telemetry/logging": {"level": "WARNING"}}, "endpoints": [)" +
                                               default_endpoints + "]}");
    error_msg_ = std::make_unique<SluiceProcess>(
        "{" + common + R"( "cache_ttl": "30s", "extra_config": {"sluice/http": {"workers": 2},
          "telemetry/logging": {"level": "WARNING"}, "router": {"return_error_msg": true}},
          "endpoints": [)" +
        error_msg_endpoints + "]}");
  }

  void TearDown() override {
    default_.reset();
    error_msg_.reset();
    backend_.reset();
  }

  SluiceProcess& gateway(Gateway g) { return g == Gateway::kDefault ? *default_ : *error_msg_; }
  std::string backend_url() const { return backend_->url(); }

 private:
  std::unique_ptr<TestBackend> backend_;
  ClosedPort dead_;  // the backend that is down
  std::string dead_url_;
  std::unique_ptr<SluiceProcess> default_;
  std::unique_ptr<SluiceProcess> error_msg_;
};

CompatEnvironment* const compat_env =
    static_cast<CompatEnvironment*>(::testing::AddGlobalTestEnvironment(new CompatEnvironment));

// ---------------------------------------------------------------------------------------------
// The table-driven test.

Response Get(Gateway g, const std::string& target, const Headers& headers = {}) {
  return Fetch(compat_env->gateway(g).port(), "GET", target, headers);
}

class Compat : public ::testing::TestWithParam<Case> {};

TEST_P(Compat, Answers) {
  const Case& c = GetParam();
  const Expect& e = c.expect;
  Response res = Get(c.gateway, c.target, c.request_headers);
  EXPECT_EQ(res.result_int(), e.status);
  if (e.body != kAny) {
    EXPECT_EQ(res.body(), ReplaceAll(e.body, "$BACKEND", compat_env->backend_url()));
  }
  EXPECT_EQ(Header(res, "Content-Type"), e.content_type);
  if (e.completed != kAny) {
    EXPECT_EQ(Header(res, "X-Krakend-Completed"), e.completed);
  }
  EXPECT_EQ(Header(res, "Cache-Control"), e.cache_control);
  for (const auto& [name, value] : e.headers) EXPECT_EQ(Header(res, name), value) << name;
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Aggregation, Compat, ::testing::ValuesIn(AggregationCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(Shaping, Compat, ::testing::ValuesIn(ShapingCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(Flatmap, Compat, ::testing::ValuesIn(FlatmapCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(BackendEncoding, Compat, ::testing::ValuesIn(BackendEncodingCases()),
                         CaseName);
INSTANTIATE_TEST_SUITE_P(OutputEncoding, Compat, ::testing::ValuesIn(OutputEncodingCases()),
                         CaseName);
INSTANTIATE_TEST_SUITE_P(EncodingPair, Compat, ::testing::ValuesIn(EncodingPairCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(ErrorPolicy, Compat, ::testing::ValuesIn(ErrorPolicyCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(Static, Compat, ::testing::ValuesIn(StaticCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(ResponseHeaders, Compat, ::testing::ValuesIn(HeaderCases()), CaseName);

// ---------------------------------------------------------------------------------------------
// Behaviours a single request cannot show.

// KrakenD merges in arrival order ("the slowest overwriting the fastest", lura#391); Sluice in
// declaration order. The three backends answer in every order over the runs (CollideDelay).
TEST(CompatAggregationTest, CollisionOrderIsDeclarationOrderUnderRandomArrival) {
  constexpr int kRuns = 20;
  for (int run = 0; run < kRuns; ++run) {
    Response res = Get(Gateway::kDefault, "/agg/collide?run=" + std::to_string(run));
    ASSERT_EQ(res.result_int(), 200u) << "run " << run;
    EXPECT_EQ(res.body(), R"({"from1":true,"from2":true,"from3":true,"k":"third"})")
        << "run " << run;
  }
}

TEST(CompatAggregationTest, BackendsAreCalledInParallel) {
  auto start = steady_clock::now();
  Response res = Get(Gateway::kDefault, "/agg/parallel");
  auto took = steady_clock::now() - start;
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"w1":true,"w2":true,"w3":true})");
  // Three backends of 500 ms each: in parallel ~500 ms, one after the other >= 1500 ms (the whole
  // margin is left to a slow machine).
  EXPECT_GE(took, milliseconds(500));
  EXPECT_LT(took, milliseconds(1500));
}

TEST(CompatAggregationTest, TimeoutGivesPartialAnswerWithoutSlowPart) {
  auto start = steady_clock::now();
  Response res = Get(Gateway::kDefault, "/timeout/partial");
  auto took = steady_clock::now() - start;
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"a":1})");
  EXPECT_EQ(Header(res, "Content-Type"), kJson);
  EXPECT_EQ(Header(res, "X-Krakend-Completed"), "false");
  EXPECT_EQ(Header(res, "Cache-Control"), kAbsent);
  // Bounded by the 400 ms endpoint timeout (KrakenD cuts the merge at 85 %), not by the
  // backend's 1500 ms.
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(1450));
}

TEST(CompatAggregationTest, TimeoutWithNoDataIs500) {
  auto start = steady_clock::now();
  Response res = Get(Gateway::kDefault, "/timeout/all");
  auto took = steady_clock::now() - start;
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_EQ(res.body(), "");
  EXPECT_EQ(Header(res, "X-Krakend-Completed"), "false");
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(1450));  // not the backend's 1500 ms
}

// Issue 4: an invalid payload fails that backend "with a log line saying which backend and why".
TEST(CompatLogTest, InvalidPayloadNamesBackendAndReason) {
  ASSERT_EQ(Get(Gateway::kDefault, "/benc/invalid").result_int(), 200u);
  SluiceProcess& gw = compat_env->gateway(Gateway::kDefault);
  const std::string needle = "[ENDPOINT: /benc/invalid][BACKEND: /enc/bad] decode: ";
  EXPECT_TRUE(gw.LogHas(needle)) << gw.log();
}

// Sequential proxy: {respN_x} needs proxy.sequential and may only refer to earlier backends; the
// behaviour itself is covered in gateway_test (SequentialBackendUsesTheFirstAnswer, ...).
TEST(CompatSequentialTest, PlaceholdersNeedSequentialAndAnEarlierBackend) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string file = std::string(tmp ? tmp : "/tmp") + "/compat-sequential.json";
  std::ofstream(file) << R"({"version": 3, "host": ["http://127.0.0.1:1"], "endpoints": [
      {"endpoint": "/seq/{id}", "extra_config": {"proxy": {"sequential": true}}, "backend": [
        {"url_pattern": "/users/{id}"}, {"url_pattern": "/orders/{resp0_order_id}"}]},
      {"endpoint": "/par/{id}", "backend": [
        {"url_pattern": "/users/{id}"}, {"url_pattern": "/orders/{resp0_order_id}"}]},
      {"endpoint": "/later/{id}", "extra_config": {"proxy": {"sequential": true}}, "backend": [
        {"url_pattern": "/users/{resp1_x}"}, {"url_pattern": "/orders/{id}"}]}]})";
  CommandResult r = RunSluice({"check", "-c", file});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.err.find("endpoints[0]"), std::string::npos) << r.err;  // valid
  EXPECT_NE(r.err.find("endpoints[1].backend[1].url_pattern: {resp0_order_id} needs "
                       "extra_config.proxy.sequential: true on the endpoint"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("endpoints[2].backend[0].url_pattern: {resp1_x} refers to backend 1, "
                       "which is not called before this one"),
            std::string::npos)
      << r.err;
}

// Issue 13: what KrakenD loads loosely, Sluice loads the same way, through the real binary: an
// endpoint without its leading '/', a backend encoding KrakenD does not know (decoded as JSON),
// and an endpoint with several methods in one string (skipped with a warning, the rest runs).
TEST(CompatLoadTest, LooseFilesRunAsInKrakenD) {
  TestBackend backend([](const Request& req) {
    return TestBackend::Json(R"({"path":")" + std::string(req.target()) + R"("})");
  });
  SluiceProcess gw(R"({"version": 3, "endpoints": [
      {"endpoint": "users", "backend": [{"host": [")" +
                   backend.url() + R"("], "url_pattern": "/u", "encoding": "form"}]},
      {"endpoint": "/both", "method": "GET,POST", "backend": [{"host": [")" +
                   backend.url() + R"("], "url_pattern": "/b"}]}]})");
  Response users = Fetch(gw.port(), "GET", "/users");
  EXPECT_EQ(users.result_int(), 200u);
  EXPECT_EQ(users.body(), R"({"path":"/u"})");
  EXPECT_EQ(Fetch(gw.port(), "GET", "/both").result_int(), 404u);
  EXPECT_EQ(Fetch(gw.port(), "POST", "/both").result_int(), 404u);
  EXPECT_TRUE(gw.LogHas("this endpoint is skipped")) << gw.log();
  EXPECT_EQ(backend.request_count(), 1u);
}

// A no-op answer passes every Set-Cookie of the backend, in order (Lura's noopRender adds each).
TEST(CompatNoOpTest, EverySetCookiePassesThrough) {
  Response res = Get(Gateway::kDefault, "/out/noop");
  std::vector<std::string> cookies;
  for (const auto& field : res) {
    if (field.name() == bhttp::field::set_cookie) cookies.emplace_back(field.value());
  }
  EXPECT_EQ(cookies, (std::vector<std::string>{"a=1; Path=/", "b=2; HttpOnly"}));
}

// sequential_propagated_params is checked the way KrakenD reads it: entries that are not respN or
// respN_field are named (KrakenD skips them), and `check --lint` says nothing in Sluice reads the
// values (their readers are Lua and the body generators). A no-op backend in a rendering endpoint
// loads, with a lint note that it adds nothing.
TEST(CompatSequentialTest, PropagatedParamsAndNoOpBackendsAreCheckedAndExplained) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string file = std::string(tmp ? tmp : "/tmp") + "/compat-propagated.json";
  std::ofstream(file) << R"({"version": 3, "host": ["http://127.0.0.1:1"], "endpoints": [
      {"endpoint": "/seq", "extra_config": {"proxy": {"sequential": true,
         "sequential_propagated_params": ["resp0", "resp0_user.id", "user.id"]}}, "backend": [
        {"url_pattern": "/a", "encoding": "no-op"}, {"url_pattern": "/b"}]},
      {"endpoint": "/par", "extra_config": {"proxy": {"sequential_propagated_params": ["resp0"]}},
       "backend": [{"url_pattern": "/a"}, {"url_pattern": "/b"}]}]})";
  CommandResult plain = RunSluice({"check", "-c", file});
  EXPECT_EQ(plain.exit_code, 0) << plain.out << plain.err;
  CommandResult r = RunSluice({"check", "--lint", "-c", file});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;  // lint findings fail `check --lint`
  const std::string all = r.out + r.err;
  EXPECT_NE(all.find("sequential_propagated_params[2]: expected respN or respN_field"),
            std::string::npos)
      << all;
  EXPECT_EQ(all.find("sequential_propagated_params[0]"), std::string::npos) << all;
  EXPECT_EQ(all.find("sequential_propagated_params[1]"), std::string::npos) << all;
  EXPECT_NE(all.find("no component of Sluice reads what it propagates"), std::string::npos) << all;
  EXPECT_NE(all.find("has no effect without sequential: true"), std::string::npos) << all;
  EXPECT_NE(all.find("endpoints[0].backend[0].encoding: no-op in an endpoint that renders"),
            std::string::npos)
      << all;
}

}  // namespace
}  // namespace sluice::testing
