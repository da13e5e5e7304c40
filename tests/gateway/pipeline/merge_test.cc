#include "gateway/pipeline/merge.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "boost/beast/http/field.hpp"
#include "gateway/backend/error.h"
#include "gateway/common/strings.h"
#include "gateway/config/config.h"
#include "gateway/pipeline/decode.h"
#include "gateway/pipeline/policy.h"
#include "gateway/shaping/shaping.h"
#include "gtest/gtest.h"
#include "tests/gateway/pipeline/stack_harness.h"

// The merging half of an endpoint's stack with fake backends: each backend answer is a
// hand-built BackendResponse (a status, headers and body, or a transport error), the endpoint
// comes from a KrakenD config parsed by the real loader, and the stack is the one
// BuildEndpointStack assembles (stack_harness.h). Assertions are on every header, the status and
// the body.

namespace sluice::pipeline {
namespace {

namespace bhttp = boost::beast::http;
using backend::ErrorKind;
using CallResult = backend::BackendResponse;
using fakes::Down;
using fakes::Reply;

// ---------------------------------------------------------------------------------------------
// Fake backend answers.

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kJsonType[] = "application/json";

CallResult Ok(std::string body) { return Reply(200, std::move(body)); }

// ---------------------------------------------------------------------------------------------
// Config: a whole KrakenD (format 3) file with one endpoint, parsed by the real loader.

// `service` holds more top-level members (without a trailing comma).
std::string File(const std::string& endpoint, const std::string& service = "") {
  return R"({"version": 3, "host": ["http://127.0.0.1:8000"], )" +
         (service.empty() ? "" : service + ", ") + R"("endpoints": [)" + endpoint + "]}";
}

// A backend object; `members` are more JSON members.
std::string Be(const std::string& members = "") {
  return R"({"url_pattern": "/b")" + (members.empty() ? "" : ", " + members) + "}";
}

std::string Ep(const std::vector<std::string>& backends, const std::string& members = "") {
  std::string list;
  for (const std::string& b : backends) list += (list.empty() ? "" : ", ") + b;
  return R"({"endpoint": "/e", )" + (members.empty() ? "" : members + ", ") + R"("backend": [)" +
         list + "]}";
}

std::string BackendHttp(const std::string& members) {
  return R"("extra_config": {"backend/http": {)" + members + "}}";
}

std::string SluiceBackend(const std::string& members) {
  return R"("extra_config": {"sluice/backend": {)" + members + "}}";
}

constexpr char kErrorMsg[] = R"("extra_config": {"router": {"return_error_msg": true}})";

// What one backend answer contributed, as DecodeAnswer leaves it (for the DecodeAnswer tests).
struct Part {
  std::optional<nlohmann::json> data;
  bool ok = false;
  backend::Error error;
  std::string error_body;
  Headers headers;
};

// One merging endpoint's stack, built from config by the real assembly, with fake backends.
class MergeStage {
 public:
  static absl::StatusOr<std::unique_ptr<MergeStage>> Build(const std::string& file) {
    auto runner = fakes::StackRunner::Build(file);
    if (!runner.ok()) return runner.status();
    auto stage = std::unique_ptr<MergeStage>(new MergeStage());
    stage->runner_ = std::move(*runner);
    return stage;
  }

  size_t backends() const { return runner_->backends(); }
  const fakes::StackRunner& runner() const { return *runner_; }

  // DecodeAnswer of backend i, as backend i's decode stage runs it.
  Part Decode(size_t i, CallResult answer) const {
    const config::Backend& cfg = runner_->endpoint().backends.at(i);
    auto shaper = shaping::BackendShaper::Create(cfg);
    EXPECT_TRUE(shaper.ok()) << shaper.status();
    DecodeAnswer(cfg, BackendPolicy::FromConfig(cfg),
                 shaper.ok() && !shaper->is_identity() ? &*shaper : nullptr, &answer);
    Part part;
    part.ok = answer.ok();
    part.error = answer.error;
    part.data = std::move(answer.data);
    if (!part.ok) part.error_body = answer.body;
    if (part.ok) {
      for (const auto& f : answer.headers) {
        part.headers.emplace_back(std::string(Sv(f.name_string())), std::string(Sv(f.value())));
      }
    }
    return part;
  }

  // The client's answer when backend i answered answers[i], arriving in `order` (default:
  // declaration order).
  http::Response Answer(std::vector<CallResult> answers, std::string_view accept,
                        std::vector<size_t> order = {}) const {
    if (order.empty()) {
      for (size_t i = 0; i < answers.size(); ++i) order.push_back(i);
    }
    std::vector<std::pair<std::string, std::string>> headers;
    if (!accept.empty()) headers.emplace_back("Accept", std::string(accept));
    runner_->Start(fakes::Get("/e", headers));
    for (size_t i : order) runner_->backend(i).Answer(std::move(answers.at(i)));
    EXPECT_TRUE(runner_->response().has_value()) << "the stack did not answer";
    return runner_->response().value_or(http::Response());
  }

 private:
  MergeStage() = default;
  std::unique_ptr<fakes::StackRunner> runner_;
};

// ---------------------------------------------------------------------------------------------
// Expected answers.

constexpr char kJsonCt[] = "Content-Type: application/json; charset=utf-8";
constexpr char kTextCt[] = "Content-Type: text/plain; charset=utf-8";
constexpr char kXmlCt[] = "Content-Type: application/xml";
constexpr char kYamlCt[] = "Content-Type: application/yaml; charset=utf-8";
constexpr char kComplete[] = "X-Krakend-Completed: true";
constexpr char kIncomplete[] = "X-Krakend-Completed: false";
constexpr char kVary[] = "Vary: Accept";

struct Expect {
  unsigned status;
  std::vector<std::string> headers;  // every header of the answer, "Name: value", in any order
  std::string body;
};

std::vector<std::string> SortedHeaders(const http::Response& res) {
  std::vector<std::string> out;
  for (const auto& field : res) {
    out.push_back(std::string(Sv(field.name_string())) + ": " + std::string(Sv(field.value())));
  }
  std::sort(out.begin(), out.end());
  return out;
}

void ExpectAnswer(const http::Response& res, const Expect& expect) {
  // result_int(): result() maps codes Beast has no name for (418) to 0.
  EXPECT_EQ(res.result_int(), expect.status);
  std::vector<std::string> want = expect.headers;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(SortedHeaders(res), want);
  EXPECT_EQ(res.body(), expect.body);
}

// ---------------------------------------------------------------------------------------------
// The table. A row is `<Group>/MergeTest.Answers/<name>`; docs/compat.md refers to these names.

struct Case {
  std::string name;
  std::string file;                 // the KrakenD config
  std::vector<CallResult> answers;  // one per backend, in declaration order
  std::string accept;               // the client's Accept header ("" when absent)
  Expect expect;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

TEST(MergeStageTest, BuildsFromConfig) {
  auto stage = MergeStage::Build(File(Ep({Be(), Be()})));
  ASSERT_TRUE(stage.ok()) << stage.status();
  EXPECT_EQ((*stage)->backends(), 2u);
}

class MergeTest : public testing::TestWithParam<Case> {};

TEST_P(MergeTest, Answers) {
  const Case& c = GetParam();
  auto stage = MergeStage::Build(c.file);
  ASSERT_TRUE(stage.ok()) << stage.status();
  ASSERT_EQ((*stage)->backends(), c.answers.size()) << "one answer per backend";
  ExpectAnswer((*stage)->Answer(c.answers, c.accept), c.expect);
}

std::string RowName(const testing::TestParamInfo<Case>& info) { return info.param.name; }

const std::vector<Case>& AggregationCases() {
  static const auto* cases = new std::vector<Case>{
      {"MergeThreeBackends",
       File(Ep({Be(), Be(), Be()}, R"("cache_ttl": "60s")")),
       {Ok(R"({"a": 1})"), Ok(R"({"b": {"x": 1}})"), Ok(R"({"c": [1, 2]})")},
       "",
       {200,
        {kJsonCt, kComplete, "Cache-Control: public, max-age=60"},
        R"({"a":1,"b":{"x":1},"c":[1,2]})"}},
      {"CollisionLaterDeclaredBackendWins",
       File(Ep({Be(), Be(), Be()})),
       {Ok(R"({"k": "first", "from1": true})"), Ok(R"({"k": "second", "from2": true})"),
        Ok(R"({"k": "third", "from3": true})")},
       "",
       {200, {kJsonCt, kComplete}, R"({"from1":true,"from2":true,"from3":true,"k":"third"})"}},
      // A failed backend contributes nothing, so it cannot overwrite an earlier value.
      {"CollisionFailedLaterBackendKeepsEarlierValue",
       File(Ep({Be(), Be(), Be()})),
       {Ok(R"({"k": "first"})"), Ok(R"({"k": "second"})"), Reply(500, R"({"k": "error"})")},
       "",
       {200, {kJsonCt, kIncomplete}, R"({"k":"second"})"}},
      // Answers rendered straight from their bytes merge as the trees would; a part the direct
      // pass declines (duplicate keys) or a failure's error details send every part through the
      // tree.
      {"CollisionLastWinsWithEscapedAndGroupedKeys",
       File(Ep({Be(), Be(R"("group": "g\"q")"), Be()})),
       {Ok(R"({"k\"": 1, "\u0001": [1], "z": {"b": 1, "a": 2}, "m": 0.50})"), Ok(R"({"x": 1})"),
        Ok(R"({"k\u0022": 3, "g\"q": "overwritten by nothing", "a": null})")},
       "",
       {200,
        {kJsonCt, kComplete},
        R"({"\u0001":[1],"a":null,"g\"q":"overwritten by nothing","k\"":3,"m":0.5,"z":{"a":2,"b":1}})"}},
      {"GroupThenPlainCollision",
       File(Ep({Be(R"("group": "g")"), Be()})),
       {Ok(R"({"a": 1})"), Ok(R"({"g": 2, "b": true})")},
       "",
       {200, {kJsonCt, kComplete}, R"({"b":true,"g":2})"}},
      {"PlainThenGroupCollision",
       File(Ep({Be(), Be(R"("group": "g")")})),
       {Ok(R"({"g": 2, "b": true})"), Ok(R"({"a": 1})")},
       "",
       {200, {kJsonCt, kComplete}, R"({"b":true,"g":{"a":1}})"}},
      {"DeclinedPartMergesThroughTheTree",
       File(Ep({Be(), Be(), Be()})),
       {Ok(R"({"k": 1, "a": 1})"), Ok(R"({"k": 2, "k": 3})"), Ok(R"({"a": 4})")},
       "",
       {200, {kJsonCt, kComplete}, R"({"a":4,"k":3})"}},
      {"ErrorDetailsMergeThroughTheTree",
       File(Ep({Be(), Be(R"("extra_config": {"backend/http": {"return_error_details": "b"}})")})),
       {Ok(R"({"z": 1, "a": 2})"), Reply(502, "bad gateway", "text/plain")},
       "",
       {200,
        {kJsonCt, kIncomplete},
        R"({"a":2,"error_b":{"http_body":"bad gateway","http_body_encoding":"text/plain","http_status_code":502},"z":1})"}},
      {"GroupAvoidsCollisions",
       File(Ep({Be(R"("group": "first")"), Be(R"("group": "second")")})),
       {Ok(R"({"a": 1})"), Ok(R"({"a": 2})")},
       "",
       {200, {kJsonCt, kComplete}, R"({"first":{"a":1},"second":{"a":2}})"}},
      {"PartialFailureStatus",
       File(Ep({Be(), Be(), Be()}, R"("cache_ttl": "60s")")),
       {Ok(R"({"a": 1})"), Reply(503, R"({"down": true})"), Ok(R"({"c": [1, 2]})")},
       "",
       {200, {kJsonCt, kIncomplete}, R"({"a":1,"c":[1,2]})"}},
      {"PartialFailureConnect",
       File(Ep({Be(), Be()}, R"("cache_ttl": "60s")")),
       {Ok(R"({"a": 1})"), Down(ErrorKind::kConnect, "connection refused")},
       "",
       {200, {kJsonCt, kIncomplete}, R"({"a":1})"}},
      {"PartialFailureTimeout",
       File(Ep({Be(), Be()}, R"("cache_ttl": "60s")")),
       {Down(ErrorKind::kTimeout, "deadline exceeded"), Ok(R"({"b": 2})")},
       "",
       {200, {kJsonCt, kIncomplete}, R"({"b":2})"}},
      {"PartialFailureReset",
       File(Ep({Be(), Be()})),
       {Ok(R"({"a": 1})"), Down(ErrorKind::kReset, "connection reset by peer")},
       "",
       {200, {kJsonCt, kIncomplete}, R"({"a":1})"}},
      {"AllFail",
       File(Ep({Be(), Be(), Be()}, R"("cache_ttl": "60s")")),
       {Reply(500, R"({"e": 1})"), Reply(404, R"({"e": 2})"),
        Down(ErrorKind::kConnect, "connection refused")},
       "",
       {500, {kIncomplete}, ""}},
      {"AllFailTimeout",
       File(Ep({Be()})),
       {Down(ErrorKind::kTimeout, "deadline exceeded")},
       "",
       {500, {kIncomplete}, ""}},
      // An empty object is data: the answer is complete, not a failure.
      // A success, but Lura's handler calls an answer without data incomplete.
      {"EmptyObjectIsSuccess",
       File(Ep({Be()})),
       {Ok("{}")},
       "",
       {200, {kJsonCt, kIncomplete}, "{}"}},
      {"NoCacheTtlNoCacheControl",
       File(Ep({Be()})),
       {Ok(R"({"a": 1})")},
       "",
       {200, {kJsonCt, kComplete}, R"({"a":1})"}},
      {"CacheTtlInheritedFromService",
       File(Ep({Be()}), R"("cache_ttl": "30s")"),
       {Ok(R"({"a": 1})")},
       "",
       {200, {kJsonCt, kComplete, "Cache-Control: public, max-age=30"}, R"({"a":1})"}},
      {"CacheTtlEndpointOverridesService",
       File(Ep({Be()}, R"("cache_ttl": "1m30s")"), R"("cache_ttl": "30s")"),
       {Ok(R"({"a": 1})")},
       "",
       {200, {kJsonCt, kComplete, "Cache-Control: public, max-age=90"}, R"({"a":1})"}},
  };
  return *cases;
}
INSTANTIATE_TEST_SUITE_P(Aggregation, MergeTest, testing::ValuesIn(AggregationCases()), RowName);

const std::vector<Case>& ErrorPolicyCases() {
  const std::string two_xx = SluiceBackend(R"("success_status": "2xx")");
  static const auto* cases = new std::vector<Case>{
      {"Default200IsSuccess",
       File(Ep({Be()})),
       {Reply(200, R"({"s": 200})")},
       "",
       {200, {kJsonCt, kComplete}, R"({"s":200})"}},
      {"Default201IsSuccess",
       File(Ep({Be()})),
       {Reply(201, R"({"s": 201})")},
       "",
       {200, {kJsonCt, kComplete}, R"({"s":201})"}},
      {"Default202IsFailure",
       File(Ep({Be()})),
       {Reply(202, R"({"s": 202})")},
       "",
       {500, {kIncomplete}, ""}},
      {"Default204IsFailure", File(Ep({Be()})), {Reply(204, "", "")}, "", {500, {kIncomplete}, ""}},
      {"Default404Is500EmptyBody",
       File(Ep({Be()})),
       {Reply(404, R"({"code": 404})")},
       "",
       {500, {kIncomplete}, ""}},
      // KrakenD's JSON decoder fails on an empty body (EOF).
      {"Default200EmptyBodyIsAFailure",
       File(Ep({Be()})),
       {Reply(200, "")},
       "",
       {500, {kIncomplete}, ""}},
      {"SuccessStatus2xxAccepts202",
       File(Ep({Be(two_xx)})),
       {Reply(202, R"({"code": 202})")},
       "",
       {200, {kJsonCt, kComplete}, R"({"code":202})"}},
      {"SuccessStatus2xxAccepts204EmptyBody",
       File(Ep({Be(two_xx)})),
       {Reply(204, "", "")},
       "",
       {200, {kJsonCt, kIncomplete}, "{}"}},
      {"SuccessStatus2xxAccepts202EmptyBody",
       File(Ep({Be(two_xx)})),
       {Reply(202, "")},
       "",
       {200, {kJsonCt, kIncomplete}, "{}"}},
      {"SuccessStatus2xx204IsAnEmptyCollection",
       File(Ep({Be(R"("is_collection": true, )" + two_xx)})),
       {Reply(204, "", "")},
       "",
       {200, {kJsonCt, kComplete}, R"({"collection":[]})"}},
      // The string decoder reads an empty body as empty content; "2xx" only widens which
      // statuses succeed, so it must not change how a body is decoded.
      {"StringEmptyBody",
       File(Ep({Be(R"("encoding": "string")")})),
       {Reply(200, "", "text/plain")},
       "",
       {200, {kJsonCt, kComplete}, R"({"content":""})"}},
      {"SuccessStatus2xxKeepsStringEmptyBody",
       File(Ep({Be(R"("encoding": "string", )" + two_xx)})),
       {Reply(200, "", "text/plain")},
       "",
       {200, {kJsonCt, kComplete}, R"({"content":""})"}},
      {"SuccessStatus2xx204StringIsEmptyContent",
       File(Ep({Be(R"("encoding": "string", )" + two_xx)})),
       {Reply(204, "", "")},
       "",
       {200, {kJsonCt, kComplete}, R"({"content":""})"}},
      {"SuccessStatus2xxStillFails404",
       File(Ep({Be(two_xx)})),
       {Reply(404, R"({"code": 404})")},
       "",
       {500, {kIncomplete}, ""}},
      {"SuccessStatus2xxStillFails304",
       File(Ep({Be(two_xx)})),
       {Reply(304, "", "")},
       "",
       {500, {kIncomplete}, ""}},
      {"SuccessStatus200To201IsTheDefault",
       File(Ep({Be(SluiceBackend(R"("success_status": "200-201")"))})),
       {Reply(204, "", "")},
       "",
       {500, {kIncomplete}, ""}},
      {"ReturnErrorCode",
       File(Ep({Be(BackendHttp(R"("return_error_code": true)"))})),
       {Reply(404, R"({"code": 404})")},
       "",
       {404, {kIncomplete}, ""}},
      // A code Beast has no name for (418; Beast names 599) must not become 0.
      {"ReturnErrorCodeUnnamedStatus",
       File(Ep({Be(BackendHttp(R"("return_error_code": true)"))})),
       {Reply(418, "teapot")},
       "",
       {418, {kIncomplete}, ""}},
      {"ReturnErrorCodeNotForTransportErrors",
       File(Ep({Be(BackendHttp(R"("return_error_code": true)"))})),
       {Down(ErrorKind::kConnect, "connection refused")},
       "",
       {500, {kIncomplete}, ""}},
      {"ReturnErrorCodeOnlyWhenNoData",
       File(Ep({Be(), Be(BackendHttp(R"("return_error_code": true)"))})),
       {Ok(R"({"a": 1})"), Reply(404, R"({"code": 404})")},
       "",
       {200, {kJsonCt, kIncomplete}, R"({"a":1})"}},
      {"ReturnErrorCodeOfTheBackendThatAskedForIt",
       File(Ep({Be(), Be(BackendHttp(R"("return_error_code": true)")), Be()})),
       {Reply(500, "a"), Reply(403, "b"), Reply(502, "c")},
       "",
       {403, {kIncomplete}, ""}},
      {"ReturnErrorCodeWithReturnErrorMsg",
       File(Ep({Be(BackendHttp(R"("return_error_code": true)"))}), kErrorMsg),
       {Reply(404, R"({"code": 404})")},
       "",
       {404, {kTextCt, kIncomplete}, R"({"code": 404})"}},
      // Without return_error_code the backend's body is not the error: KrakenD's default status
      // handler does not read it; the client gets the error text, not backend internals.
      {"ReturnErrorMsgAlone",
       File(Ep({Be()}), kErrorMsg),
       {Reply(404, R"({"internal": "stack trace"})")},
       "",
       // Lura's text; the URL is empty here, where no REST client made the call.
       {500, {kTextCt, kIncomplete}, "invalid status code 404 [GET /b]: "}},
      {"ReturnErrorMsgTransportError",
       File(Ep({Be()}), kErrorMsg),
       {Down(ErrorKind::kConnect, "connect 127.0.0.1:8000: connection refused")},
       "",
       {500, {kTextCt, kIncomplete}, "connect 127.0.0.1:8000: connection refused"}},
      {"ReturnErrorMsgDoesNotTouchSuccess",
       File(Ep({Be()}), kErrorMsg),
       {Ok(R"({"a": 1})")},
       "",
       {200, {kJsonCt, kComplete}, R"({"a":1})"}},
      {"ReturnErrorMsgDoesNotTouchPartial",
       File(Ep({Be(), Be()}), kErrorMsg),
       {Ok(R"({"a": 1})"), Reply(404, "gone")},
       "",
       {200, {kJsonCt, kIncomplete}, R"({"a":1})"}},
      {"ReturnErrorDetails",
       File(Ep({Be(BackendHttp(R"("return_error_details": "remote")"))}, R"("cache_ttl": "60s")")),
       {Reply(404, R"({"code": 404})")},
       "",
       {200,
        {kJsonCt, kIncomplete},
        R"({"error_remote":{"http_body":"{\"code\": 404}","http_body_encoding":"application/json",)"
        R"("http_status_code":404}})"}},
      {"ReturnErrorDetailsBesideSuccess",
       File(Ep({Be(), Be(BackendHttp(R"("return_error_details": "flaky")"))})),
       {Ok(R"({"a": 1})"), Reply(503, "busy", "text/plain")},
       "",
       {200,
        {kJsonCt, kIncomplete},
        R"({"a":1,"error_flaky":{"http_body":"busy","http_body_encoding":"text/plain",)"
        R"("http_status_code":503}})"}},
      {"ReturnErrorDetailsWithoutContentType",
       File(Ep({Be(BackendHttp(R"("return_error_details": "x")"))})),
       {Reply(500, "", "")},
       "",
       {200,
        {kJsonCt, kIncomplete},
        R"({"error_x":{"http_body":"","http_body_encoding":"","http_status_code":500}})"}},
      // Details describe an HTTP answer; a call that got none fails as usual.
      {"ReturnErrorDetailsNotForTransportErrors",
       File(Ep({Be(BackendHttp(R"("return_error_details": "remote")"))})),
       {Down(ErrorKind::kTimeout, "deadline exceeded")},
       "",
       {500, {kIncomplete}, ""}},
  };
  return *cases;
}
INSTANTIATE_TEST_SUITE_P(ErrorPolicy, MergeTest, testing::ValuesIn(ErrorPolicyCases()), RowName);

const std::vector<Case>& ResponseHeaderCases() {
  const Headers sent = {{"X-Rate-Limit", "10"},
                        {"X-Secret", "s3cr3t"},
                        {"Set-Cookie", "sid=1"},
                        {"Set-Cookie", "theme=dark"}};
  const std::string allow = SluiceBackend(R"("return_headers": ["x-rate-limit", "SET-COOKIE"])");
  static const auto* cases = new std::vector<Case>{
      {"BackendHeadersNotReturnedByDefault",
       File(Ep({Be()})),
       {Reply(200, R"({"h": 1})", kJsonType, sent)},
       "",
       {200, {kJsonCt, kComplete}, R"({"h":1})"}},
      {"ReturnHeadersAllowList",
       File(Ep({Be(allow)})),
       {Reply(200, R"({"h": 1})", kJsonType, sent)},
       "",
       {200,
        {kJsonCt, kComplete, "X-Rate-Limit: 10", "Set-Cookie: sid=1", "Set-Cookie: theme=dark"},
        R"({"h":1})"}},
      {"ReturnHeadersFromEverySuccessfulBackend",
       File(Ep({Be(allow), Be(allow)})),
       {Reply(200, R"({"a": 1})", kJsonType, {{"X-Rate-Limit", "10"}}),
        Reply(200, R"({"b": 2})", kJsonType, {{"X-Rate-Limit", "20"}})},
       "",
       {200, {kJsonCt, kComplete, "X-Rate-Limit: 10", "X-Rate-Limit: 20"}, R"({"a":1,"b":2})"}},
      {"ReturnHeadersNotFromAFailedBackend",
       File(Ep({Be(allow), Be(allow)})),
       {Reply(200, R"({"a": 1})", kJsonType, {{"X-Rate-Limit", "10"}}),
        Reply(503, R"({"b": 2})", kJsonType, {{"X-Rate-Limit", "0"}})},
       "",
       {200, {kJsonCt, kIncomplete, "X-Rate-Limit: 10"}, R"({"a":1})"}},
      {"ReturnHeadersNotOnFailure",
       File(Ep({Be(allow)})),
       {Reply(429, "slow down", "text/plain", {{"X-Rate-Limit", "0"}})},
       "",
       {500, {kIncomplete}, ""}},
  };
  return *cases;
}
INSTANTIATE_TEST_SUITE_P(ResponseHeaders, MergeTest, testing::ValuesIn(ResponseHeaderCases()),
                         RowName);

// Every strategy against a complete answer, a partial one and one where every backend failed.
// The static data overwrites backend keys ("a"), as Lura's static proxy does; cache_ttl shows
// that only complete answers are cacheable, static data or not.
const std::vector<Case>& StaticCases() {
  struct Strategy {
    const char* name;                     // as in the config
    const char* row;                      // row name prefix
    bool complete, incomplete, all_fail;  // whether the static data joins each answer
  };
  const Strategy strategies[] = {
      {"always", "Always", true, true, true},          {"success", "Success", true, false, false},
      {"complete", "Complete", true, false, false},    {"errored", "Errored", false, true, true},
      {"incomplete", "Incomplete", false, true, true},
  };
  const std::string cache = "Cache-Control: public, max-age=10";
  static const auto* cases = [&] {
    auto* cases = new std::vector<Case>();
    for (const Strategy& s : strategies) {
      const std::string file = File(Ep(
          {Be(), Be()},
          absl::StrCat(R"("cache_ttl": "10s", "extra_config": {"proxy": {"static": )",
                       R"({"strategy": ")", s.name, R"(", "data": {"a": "static", "s": 1}}}})")));
      cases->push_back({absl::StrCat(s.row, "OnComplete"),
                        file,
                        {Ok(R"({"a": 1})"), Ok(R"({"b": 2})")},
                        "",
                        {200,
                         {kJsonCt, kComplete, cache},
                         s.complete ? R"({"a":"static","b":2,"s":1})" : R"({"a":1,"b":2})"}});
      cases->push_back(
          {absl::StrCat(s.row, "OnIncomplete"),
           file,
           {Ok(R"({"a": 1})"), Reply(503, R"({"b": 2})")},
           "",
           {200, {kJsonCt, kIncomplete}, s.incomplete ? R"({"a":"static","s":1})" : R"({"a":1})"}});
      cases->push_back({absl::StrCat(s.row, "WhenAllFail"),
                        file,
                        {Down(ErrorKind::kConnect, "refused"), Reply(503, R"({"b": 2})")},
                        "",
                        s.all_fail ? Expect{200, {kJsonCt, kIncomplete}, R"({"a":"static","s":1})"}
                                   : Expect{500, {kIncomplete}, ""}});
    }
    return cases;
  }();
  return *cases;
}
INSTANTIATE_TEST_SUITE_P(Static, MergeTest, testing::ValuesIn(StaticCases()), RowName);

constexpr char kXmlUser[] =
    R"(<?xml version="1.0"?><user id="7"><name>Ann</name><tag>a</tag><tag>b</tag></user>)";

const std::vector<Case>& BackendEncodingCases() {
  static const auto* cases = new std::vector<Case>{
      {"InvalidJsonIsAFailedPart",
       File(Ep({Be(), Be()})),
       {Ok(R"({"a": 1})"), Ok("not json {")},
       "",
       {200, {kJsonCt, kIncomplete}, R"({"a":1})"}},
      {"InvalidJsonAloneIs500", File(Ep({Be()})), {Ok(R"({"a": 1)")}, "", {500, {kIncomplete}, ""}},
      // A lone json backend nothing shapes is rendered straight from its bytes (DecodeAnswer's
      // render_direct): the same answer as through the tree, keys sorted, numbers and strings
      // as nlohmann writes them.
      {"JsonAloneRenderedAsTheTreeWould",
       File(Ep({Be()})),
       {Ok(R"({"z": [1.50, -0, 1E3, "\u00e9\/\u0001"], "a": {"y": null, "b": true}})")},
       "",
       {200, {kJsonCt, kComplete}, R"({"a":{"b":true,"y":null},"z":[1.5,0,1000.0,"é/\u0001"]})"}},
      {"JsonAloneEmptyObjectIsIncomplete",
       File(Ep({Be()})),
       {Ok(" { } ")},
       "",
       {200, {kJsonCt, kIncomplete}, "{}"}},
      {"JsonAloneDuplicateKeysTheLastWins",
       File(Ep({Be()})),
       {Ok(R"({"k": 1, "k": {"x": 2}})")},
       "",
       {200, {kJsonCt, kComplete}, R"({"k":{"x":2}})"}},
      {"JsonAloneTrailingDataIs500",
       File(Ep({Be()})),
       {Ok(R"({"b": 2} {"c": 3})")},
       "",
       {500, {kIncomplete}, ""}},
      {"JsonAloneArrayIs500", File(Ep({Be()})), {Ok("[1, 2]")}, "", {500, {kIncomplete}, ""}},
      {"JsonTrailingDataIsAFailedPart",
       File(Ep({Be(), Be()})),
       {Ok(R"({"a": 1})"), Ok(R"({"b": 2} {"c": 3})")},
       "",
       {200, {kJsonCt, kIncomplete}, R"({"a":1})"}},
      {"ArrayWithoutIsCollectionIsAFailedPart",
       File(Ep({Be(), Be()})),
       {Ok(R"({"a": 1})"), Ok("[1, 2]")},
       "",
       {200, {kJsonCt, kIncomplete}, R"({"a":1})"}},
      {"IsCollection",
       File(Ep({Be(R"("is_collection": true)")})),
       {Ok(R"([{"id": 1}, {"id": 2}])")},
       "",
       {200, {kJsonCt, kComplete}, R"({"collection":[{"id":1},{"id":2}]})"}},
      {"IsCollectionWithAnObjectIsAFailure",
       File(Ep({Be(R"("is_collection": true)")})),
       {Ok(R"({"id": 1})")},
       "",
       {500, {kIncomplete}, ""}},
      {"SafeJsonArray",
       File(Ep({Be(R"("encoding": "safejson")")})),
       {Ok("[1, 2]")},
       "",
       {200, {kJsonCt, kComplete}, R"({"collection":[1,2]})"}},
      {"SafeJsonScalar",
       File(Ep({Be(R"("encoding": "safejson")")})),
       {Ok("42")},
       "",
       {200, {kJsonCt, kComplete}, R"({"content":42})"}},
      {"String",
       File(Ep({Be(R"("encoding": "string")")})),
       {Reply(200, "hi <there>", "text/plain")},
       "",
       {200, {kJsonCt, kComplete}, R"({"content":"hi <there>"})"}},
      {"Xml",
       File(Ep({Be(R"("encoding": "xml")")})),
       {Reply(200, kXmlUser, "application/xml")},
       "",
       {200, {kJsonCt, kComplete}, R"({"user":{"-id":"7","name":"Ann","tag":["a","b"]}})"}},
      {"InvalidXmlIsAFailedPart",
       File(Ep({Be(), Be(R"("encoding": "xml")")})),
       {Ok(R"({"a": 1})"), Reply(200, "<user><name>Ann</user>", "application/xml")},
       "",
       {200, {kJsonCt, kIncomplete}, R"({"a":1})"}},
      {"XmlWithDoctypeIsAFailedPart",
       File(Ep({Be(), Be(R"("encoding": "xml")")})),
       {Ok(R"({"a": 1})"),
        Reply(200, R"(<!DOCTYPE u [<!ENTITY x "y">]><u>&x;</u>)", "application/xml")},
       "",
       {200, {kJsonCt, kIncomplete}, R"({"a":1})"}},
  };
  return *cases;
}
INSTANTIATE_TEST_SUITE_P(BackendEncoding, MergeTest, testing::ValuesIn(BackendEncodingCases()),
                         RowName);

// Shaping as DecodeAnswer applies it, in KrakenD's order target -> allow/deny -> mapping -> group.
const std::vector<Case>& ShapingCases() {
  const std::string doc =
      R"({"data": {"id": 7, "user": {"name": "Ann", "email": "a@b.c"}, "x": 1}, "meta": 2})";
  static const auto* cases = new std::vector<Case>{
      {"TargetAllowMappingGroup",
       File(Ep({Be(R"("target": "data", "allow": ["id", "user.name"], )"
                   R"("mapping": {"id": "user_id"}, "group": "profile")")})),
       {Ok(doc)},
       "",
       {200, {kJsonCt, kComplete}, R"({"profile":{"user":{"name":"Ann"},"user_id":7}})"}},
      {"TargetDenyMappingGroup",
       File(Ep({Be(R"("target": "data", "deny": ["user.email", "x"], )"
                   R"("mapping": {"user": "person"}, "group": "g")")})),
       {Ok(doc)},
       "",
       {200, {kJsonCt, kComplete}, R"({"g":{"id":7,"person":{"name":"Ann"}}})"}},
      {"AllowWinsOverDeny",
       File(Ep({Be(R"("allow": ["meta"], "deny": ["meta"])")})),
       {Ok(doc)},
       "",
       {200, {kJsonCt, kComplete}, R"({"meta":2})"}},
      {"IsCollectionMappingGroup",
       File(Ep({Be(R"("is_collection": true, "mapping": {"collection": "items"}, )"
                   R"("group": "list")")})),
       {Ok(R"([1, 2])")},
       "",
       {200, {kJsonCt, kComplete}, R"({"list":{"items":[1,2]}})"}},
      {"FlatmapThenGroup",
       File(Ep({Be(R"("group": "g", "extra_config": {"proxy": {"flatmap_filter": [)"
                   R"({"type": "move", "args": ["data.user.name", "name"]}, )"
                   R"({"type": "del", "args": ["data", "meta"]}]}})")})),
       {Ok(doc)},
       "",
       {200, {kJsonCt, kComplete}, R"({"g":{"name":"Ann"}})"}},
      // Each backend shaped by its own keys, then merged in declaration order.
      {"ThreeShapedBackendsMerged",
       File(Ep({Be(R"("allow": ["a", "b.x"], "mapping": {"a": "id"})"),
                Be(R"("allow": ["a", "c"], "group": "second")"),
                Be(R"("deny": ["a"], "mapping": {"c": "id"})")})),
       {Ok(R"({"a": 1, "b": {"x": 1, "y": 2}, "c": 3})"), Ok(R"({"a": 10, "b": 20, "c": 30})"),
        Ok(R"({"a": 100, "b": 200, "c": 300})")},
       "",
       {200, {kJsonCt, kComplete}, R"({"b":200,"id":300,"second":{"a":10,"c":30}})"}},
  };
  return *cases;
}
INSTANTIATE_TEST_SUITE_P(Shaping, MergeTest, testing::ValuesIn(ShapingCases()), RowName);

const std::vector<Case>& OutputEncodingCases() {
  auto output = [](const std::string& encoding) {
    return File(Ep({Be(), Be()}, R"("output_encoding": ")" + encoding + "\""));
  };
  const std::vector<CallResult> two = {Ok(R"({"name": "Ann", "count": 7})"),
                                       Ok(R"({"tags": ["a", "b"]})")};
  const std::string json = R"({"count":7,"name":"Ann","tags":["a","b"]})";
  const std::string xml =
      "<response><count>7</count><name>Ann</name><tags>a</tags><tags>b</tags></response>";
  const std::string yaml = "count: 7\nname: Ann\ntags:\n  - a\n  - b\n";
  static const auto* cases = new std::vector<Case>{
      {"Json", output("json"), two, "application/xml", {200, {kJsonCt, kComplete}, json}},
      {"JsonCollection",
       File(Ep({Be(R"("is_collection": true)")}, R"("output_encoding": "json-collection")")),
       {Ok(R"([{"id": 1}, 2])")},
       "",
       {200, {kJsonCt, kComplete}, R"([{"id":1},2])"}},
      {"JsonCollectionWithoutCollection",
       File(Ep({Be()}, R"("output_encoding": "json-collection")")),
       {Ok(R"({"a": 1})")},
       "",
       {200, {kJsonCt, kComplete}, "[]"}},
      {"String",
       File(Ep({Be(R"("encoding": "string")")}, R"("output_encoding": "string")")),
       {Reply(200, "hello <world>", "text/plain")},
       "",
       {200, {kTextCt, kComplete}, "hello <world>"}},
      {"StringOfNonStringContentIsEmpty",
       File(Ep({Be()}, R"("output_encoding": "string")")),
       {Ok(R"({"content": 5})")},
       "",
       {200, {kTextCt, kComplete}, ""}},
      {"Xml", output("xml"), two, "", {200, {kXmlCt, kComplete}, xml}},
      {"Yaml", output("yaml"), two, "", {200, {kYamlCt, kComplete}, yaml}},
      {"NegotiateJson",
       output("negotiate"),
       two,
       "application/json",
       {200, {kJsonCt, kComplete, kVary}, json}},
      {"NegotiateXml",
       output("negotiate"),
       two,
       "application/xml",
       {200, {kXmlCt, kComplete, kVary}, xml}},
      {"NegotiateYaml",
       output("negotiate"),
       two,
       "application/x-yaml",
       {200, {kYamlCt, kComplete, kVary}, yaml}},
      {"NegotiatePlainTextIsYaml",
       output("negotiate"),
       two,
       "text/plain",
       {200, {kYamlCt, kComplete, kVary}, yaml}},
      {"NegotiateNoAcceptIsJson",
       output("negotiate"),
       two,
       "",
       {200, {kJsonCt, kComplete, kVary}, json}},
      {"NegotiateHighestQWins",
       output("negotiate"),
       two,
       "application/json;q=0.5, text/xml",
       {200, {kXmlCt, kComplete, kVary}, xml}},
      {"NegotiatePartialAnswer",
       output("negotiate"),
       {Ok(R"({"name": "Ann", "count": 7})"), Down(ErrorKind::kTimeout, "deadline exceeded")},
       "application/x-yaml",
       {200, {kYamlCt, kIncomplete, kVary}, "count: 7\nname: Ann\n"}},
      {"NegotiateCacheable",
       File(Ep({Be()}, R"("output_encoding": "negotiate", "cache_ttl": "5s")")),
       {Ok(R"({"a": 1})")},
       "application/json",
       {200, {kJsonCt, kComplete, kVary, "Cache-Control: public, max-age=5"}, R"({"a":1})"}},
  };
  return *cases;
}
INSTANTIATE_TEST_SUITE_P(OutputEncoding, MergeTest, testing::ValuesIn(OutputEncodingCases()),
                         RowName);

// ---------------------------------------------------------------------------------------------
// Merge order does not depend on arrival order.

TEST(MergeOrderTest, CollisionWinnerIsDeclarationOrderWhateverTheFillOrder) {
  auto stage = MergeStage::Build(File(Ep({Be(), Be(), Be()})));
  ASSERT_TRUE(stage.ok()) << stage.status();
  std::vector<size_t> order = {0, 1, 2};
  int orders = 0;
  do {
    SCOPED_TRACE(testing::Message() << "filled in order " << order[0] << order[1] << order[2]);
    ExpectAnswer((*stage)->Answer({Ok(R"({"k": 1, "a": 1})"), Ok(R"({"k": 2, "b": 2})"),
                                   Ok(R"({"k": 3, "c": 3})")},
                                  "", order),
                 {200, {kJsonCt, kComplete}, R"({"a":1,"b":2,"c":3,"k":3})"});
    ++orders;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(orders, 6);
}

// ---------------------------------------------------------------------------------------------
// DecodeAnswer: what one backend answer contributes.

TEST(DecodeAnswerTest, TransportErrorIsKeptAsIs) {
  auto stage = MergeStage::Build(File(Ep({Be()})));
  ASSERT_TRUE(stage.ok()) << stage.status();
  Part part = (*stage)->Decode(0, Down(ErrorKind::kTimeout, "deadline exceeded"));
  EXPECT_FALSE(part.ok);
  EXPECT_EQ(part.error.kind, ErrorKind::kTimeout);
  EXPECT_EQ(part.error.message, "deadline exceeded");
  EXPECT_FALSE(part.data.has_value());
  EXPECT_TRUE(part.headers.empty());
}

TEST(DecodeAnswerTest, FailedStatusKeepsStatusAndBody) {
  auto stage = MergeStage::Build(File(Ep({Be()})));
  ASSERT_TRUE(stage.ok()) << stage.status();
  Part part = (*stage)->Decode(0, Reply(503, "busy", "text/plain"));
  EXPECT_FALSE(part.ok);
  EXPECT_EQ(part.error.kind, ErrorKind::kStatus);
  EXPECT_EQ(part.error.status, 503u);
  EXPECT_EQ(part.error.message, "invalid status code 503");
  EXPECT_EQ(part.error_body, "busy");
  EXPECT_FALSE(part.data.has_value());
}

TEST(DecodeAnswerTest, InvalidPayloadIsADecodeFailure) {
  struct Row {
    const char* encoding;
    const char* body;
  };
  for (const Row& row :
       {Row{"json", "not json {"}, Row{"json", "[1]"}, Row{"json", ""}, Row{"safejson", "{\"a\": "},
        Row{"xml", "<a><b></a>"}, Row{"xml", "plain text"}, Row{"rss", "<rss>"}}) {
    SCOPED_TRACE(absl::StrCat(row.encoding, ": ", row.body));
    auto stage =
        MergeStage::Build(File(Ep({Be(absl::StrCat(R"("encoding": ")", row.encoding, "\""))})));
    ASSERT_TRUE(stage.ok()) << stage.status();
    Part part = (*stage)->Decode(0, Reply(200, row.body));
    EXPECT_FALSE(part.ok);
    EXPECT_EQ(part.error.kind, ErrorKind::kDecode);
    EXPECT_FALSE(part.error.message.empty());
    EXPECT_FALSE(part.data.has_value());
  }
}

TEST(DecodeAnswerTest, SuccessIsShapedData) {
  auto stage = MergeStage::Build(
      File(Ep({Be(R"("target": "d", "allow": ["a"], "mapping": {"a": "b"}, "group": "g", )" +
                  SluiceBackend(R"("return_headers": ["x-a"])"))})));
  ASSERT_TRUE(stage.ok()) << stage.status();
  Part part = (*stage)->Decode(
      0, Reply(200, R"({"d": {"a": 1, "z": 2}})", kJsonType, {{"x-A", "1"}, {"X-B", "2"}}));
  EXPECT_TRUE(part.ok);
  EXPECT_EQ(part.error.kind, ErrorKind::kNone);
  ASSERT_TRUE(part.data.has_value());
  EXPECT_EQ(*part.data, nlohmann::json::parse(R"({"g": {"b": 1}})"));
  EXPECT_EQ(part.headers, (Headers{{"x-A", "1"}}));
}

TEST(DecodeAnswerTest, RenderDirectLeavesTheRenderedAnswerInBody) {
  auto stage = MergeStage::Build(File(Ep({Be(SluiceBackend(R"("return_headers": ["x-a"])"))})));
  ASSERT_TRUE(stage.ok()) << stage.status();
  const config::Backend& cfg = (*stage)->runner().endpoint().backends.at(0);
  CallResult answer =
      Reply(200, R"({"b": [2, 1], "a": 1.0})", kJsonType, {{"x-A", "1"}, {"X-B", "2"}});
  DecodeAnswer(cfg, BackendPolicy::FromConfig(cfg), nullptr, &answer, /*render_direct=*/true);
  EXPECT_TRUE(answer.ok());
  EXPECT_TRUE(answer.rendered_json);
  EXPECT_EQ(answer.body, R"({"a":1.0,"b":[2,1]})");
  EXPECT_FALSE(answer.data.has_value());
  ASSERT_EQ(answer.headers.count("x-a"), 1u);
  EXPECT_EQ(std::distance(answer.headers.begin(), answer.headers.end()), 1);

  // A body the direct pass declines (duplicate keys) is decoded into `data` as without it.
  CallResult twice = Reply(200, R"({"k": 1, "k": 2})");
  DecodeAnswer(cfg, BackendPolicy::FromConfig(cfg), nullptr, &twice, /*render_direct=*/true);
  EXPECT_TRUE(twice.ok());
  EXPECT_FALSE(twice.rendered_json);
  ASSERT_TRUE(twice.data.has_value());
  EXPECT_EQ(*twice.data, nlohmann::json::parse(R"({"k": 2})"));

  // A failed status is still a failure with its body, not rendered.
  CallResult failed = Reply(503, R"({"busy": true})");
  DecodeAnswer(cfg, BackendPolicy::FromConfig(cfg), nullptr, &failed, /*render_direct=*/true);
  EXPECT_FALSE(failed.ok());
  EXPECT_FALSE(failed.rendered_json);
  EXPECT_EQ(failed.body, R"({"busy": true})");
}

TEST(DecodeAnswerTest, AnAnswerThatComesRenderedIsOnlyWrappedUnderItsGroup) {
  // A gRPC backend asked to render_json answers with its reply rendered in `body`.
  auto stage =
      MergeStage::Build(File(Ep({Be(R"("group": "g", "extra_config": {"backend/grpc": {}})"),
                                 Be(R"("extra_config": {"backend/grpc": {}})")})));
  ASSERT_TRUE(stage.ok()) << stage.status();
  auto rendered = [] {
    CallResult answer;
    answer.status = 200;
    answer.body = R"({"id":7,"name":"x"})";
    answer.rendered_json = true;
    return answer;
  };
  const config::Backend& grouped = (*stage)->runner().endpoint().backends.at(0);
  auto shaper = shaping::BackendShaper::Create(grouped);
  ASSERT_TRUE(shaper.ok());
  CallResult answer = rendered();
  DecodeAnswer(grouped, BackendPolicy::FromConfig(grouped), &*shaper, &answer, true);
  EXPECT_TRUE(answer.ok());
  EXPECT_TRUE(answer.rendered_json);
  EXPECT_EQ(answer.body, R"({"g":{"id":7,"name":"x"}})");
  EXPECT_FALSE(answer.data.has_value());

  const config::Backend& plain = (*stage)->runner().endpoint().backends.at(1);
  CallResult as_is = rendered();
  DecodeAnswer(plain, BackendPolicy::FromConfig(plain), nullptr, &as_is, true);
  EXPECT_TRUE(as_is.rendered_json);
  EXPECT_EQ(as_is.body, R"({"id":7,"name":"x"})");

  // Through the stack: merged with the other part as rendered parts merge.
  http::Response res = (*stage)->Answer({rendered(), rendered()}, "");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), R"({"g":{"id":7,"name":"x"},"id":7,"name":"x"})");
}

}  // namespace
}  // namespace sluice::pipeline
