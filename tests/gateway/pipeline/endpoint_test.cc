// The real stack assembly (pipeline::BuildEndpointStack) driven with fake backends: which stages
// an endpoint gets, in which order, and what parallel, sequential, concurrent, static and no-op
// endpoints do with their backends' answers.

#include <string>
#include <vector>

#include "gateway/backend/backend.h"
#include "gateway/common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/gateway/pipeline/stack_harness.h"

namespace sluice::pipeline {
namespace {

using backend::ErrorKind;
using fakes::Down;
using fakes::Get;
using fakes::Reply;
using fakes::StackRunner;
using ::testing::ElementsAre;

std::string File(const std::string& endpoint, const std::string& service = "") {
  return R"({"version": 3, "host": ["http://127.0.0.1:8000"], )" +
         (service.empty() ? "" : service + ", ") + R"("endpoints": [)" + endpoint + "]}";
}

std::unique_ptr<StackRunner> Runner(const std::string& file) {
  auto r = StackRunner::Build(file);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(*r) : nullptr;
}

std::vector<std::string> StageNames(const Stack& stack) {
  std::vector<std::string> names;
  for (const auto& s : stack.stages()) names.emplace_back(s->name());
  return names;
}

std::string Header(const http::Response& r, const char* name) {
  auto it = r.find(name);
  return it == r.end() ? "<absent>" : std::string(Sv(it->value()));
}

// ---------------------------------------------------------------------------------------------
// Which stages, in which order.

TEST(EndpointStackTest, StagesReadTopToBottom) {
  auto merging = Runner(File(R"({"endpoint": "/e", "backend": [{"url_pattern": "/a"}]})"));
  EXPECT_THAT(StageNames(merging->stack()),
              ElementsAre("metrics", "error-mapping", "render", "merge-rendered", "fan-out"));
  auto with_static = Runner(File(R"({"endpoint": "/e", "backend": [{"url_pattern": "/a"}],
      "extra_config": {"proxy": {"static": {"strategy": "always", "data": {"s": 1}}}}})"));
  EXPECT_THAT(StageNames(with_static->stack()), ElementsAre("metrics", "error-mapping", "render",
                                                            "proxy/static", "merge", "fan-out"));
  auto sequential = Runner(File(R"({"endpoint": "/e", "backend": [{"url_pattern": "/a"},
      {"url_pattern": "/b"}], "extra_config": {"proxy": {"sequential": true}}})"));
  EXPECT_THAT(StageNames(sequential->stack()),
              ElementsAre("metrics", "error-mapping", "render", "merge", "sequential"));
  auto no_op = Runner(File(R"({"endpoint": "/e", "output_encoding": "no-op",
      "backend": [{"url_pattern": "/a", "encoding": "no-op"}]})"));
  EXPECT_THAT(StageNames(no_op->stack()), ElementsAre("metrics", "error-mapping", "no-op"));
  // A feature that is off is absent, not skipped per request.
  auto no_metrics = Runner(File(R"({"endpoint": "/e", "backend": [{"url_pattern": "/a"}]})",
                                R"("extra_config": {"sluice/http": {"metrics": false}})"));
  EXPECT_THAT(StageNames(no_metrics->stack()),
              ElementsAre("error-mapping", "render", "merge-rendered", "fan-out"));
}

// Where the decode stages render json answers straight from their bytes (merge-rendered) and
// where the tree is needed (merge): what shapes an answer or reads the merged data, another
// encoding in or out, a collection, a sequence.
TEST(EndpointStackTest, AnswersRenderedDirectlyOnlyWhereNothingReadsTheTree) {
  struct Row {
    const char* endpoint;
    const char* merge;
  };
  const Row rows[] = {
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/a"}, {"url_pattern": "/b"}]})",
       "merge-rendered"},
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/a", "group": "g"},
          {"url_pattern": "/b", "group": "h"}]})",
       "merge-rendered"},
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/a", "group": "g"},
          {"url_pattern": "/b", "allow": ["x"]}]})",
       "merge"},
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/a", "deny": ["x"]}]})", "merge"},
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/a", "target": "d"}]})", "merge"},
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/a", "mapping": {"a": "b"}}]})", "merge"},
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/a", "is_collection": true}]})", "merge"},
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/a", "encoding": "xml"}]})", "merge"},
      {R"({"endpoint": "/e", "output_encoding": "xml", "backend": [{"url_pattern": "/a"}]})",
       "merge"},
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/a",
          "extra_config": {"proxy": {"flatmap_filter": [{"type": "del", "args": ["x"]}]}}}]})",
       "merge"},
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/a"}],
          "extra_config": {"proxy": {"static": {"strategy": "always", "data": {"s": 1}}}}})",
       "merge"},
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/a"}, {"url_pattern": "/b"}],
          "extra_config": {"proxy": {"sequential": true}}})",
       "merge"},
      // gRPC replies: rendered by the backend when the request asks (render_json); another
      // `encoding` declared (no-op empties the answer) keeps the tree.
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/p.S/M", "group": "g",
          "extra_config": {"backend/grpc": {}}}, {"url_pattern": "/b"}]})",
       "merge-rendered"},
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/p.S/M", "encoding": "xml",
          "extra_config": {"backend/grpc": {}}}]})",
       "merge"},
      {R"({"endpoint": "/e", "backend": [{"url_pattern": "/p.S/M", "mapping": {"a": "b"},
          "extra_config": {"backend/grpc": {}}}]})",
       "merge"},
      {R"({"endpoint": "/e", "output_encoding": "xml", "backend": [{"url_pattern": "/p.S/M",
          "extra_config": {"backend/grpc": {}}}]})",
       "merge"},
  };
  for (const Row& row : rows) {
    auto r = Runner(File(row.endpoint));
    ASSERT_NE(r, nullptr) << row.endpoint;
    const std::vector<std::string> names = StageNames(r->stack());
    EXPECT_THAT(names, testing::Contains(std::string(row.merge))) << row.endpoint;
    // What the decode stages ask of the backends below them (a sequence calls the first).
    r->Start(Get("/e"));
    ASSERT_GE(r->backend(0).received().size(), 1u) << row.endpoint;
    EXPECT_EQ(r->backend(0).received().front().render_json,
              std::string_view(row.merge) == "merge-rendered")
        << row.endpoint;
  }
}

TEST(EndpointStackTest, AssemblyErrorsNameTheJsonPath) {
  for (const auto& [file, message] : std::vector<std::pair<std::string, std::string>>{
           {File(R"({"endpoint": "/e", "output_encoding": "no-op",
                    "backend": [{"url_pattern": "/a"}, {"url_pattern": "/b"}]})"),
            "endpoints[0]: output_encoding no-op proxies exactly one backend, found 2\n"}}) {
    auto r = StackRunner::Build(file);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), message);
  }
}

// ---------------------------------------------------------------------------------------------
// Parallel.

TEST(EndpointStackTest, ParallelCallsEveryBackendBeforeAnyAnswers) {
  auto r = Runner(File(R"({"endpoint": "/u/{id}", "input_headers": ["X-T"],
      "backend": [{"url_pattern": "/a/{id}", "group": "a"}, {"url_pattern": "/b?x=1",
                   "group": "b"}]})"));
  r->Start(Get("/u/7", {{"X-T", "t"}, {"X-Other", "o"}}), {"7"});
  ASSERT_EQ(r->backend(0).pending(), 1u);
  ASSERT_EQ(r->backend(1).pending(), 1u);
  EXPECT_EQ(r->backend(0).request().target, "/a/7");
  EXPECT_EQ(r->backend(1).request().target, "/b?x=1");
  const backend::BackendRequest& req = r->backend(0).request();
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(std::string(Sv(req.headers["X-T"])), "t");
  EXPECT_EQ(req.headers.count("X-Other"), 0u);
  EXPECT_EQ(std::string(Sv(req.headers["X-Request-Id"])), "test-request");
  EXPECT_EQ(std::string(Sv(req.headers["X-Forwarded-For"])), "203.0.113.9");
  EXPECT_FALSE(r->response());
  r->backend(1).Answer(Reply(200, R"({"k": 2})"));
  EXPECT_FALSE(r->response()) << "waits for every backend";
  r->backend(0).Answer(Reply(200, R"({"k": 1})"));
  ASSERT_TRUE(r->response());
  EXPECT_EQ(r->response()->result_int(), 200u);
  EXPECT_EQ(r->response()->body(), R"({"a":{"k":1},"b":{"k":2}})");
  EXPECT_EQ(Header(*r->response(), "X-Krakend-Completed"), "true");
}

TEST(EndpointStackTest, MetricsCountTheRequestAndEachBackendCall) {
  auto r = Runner(File(R"({"endpoint": "/e", "backend": [{"url_pattern": "/a"},
      {"url_pattern": "/b"}]})"));
  r->Start(Get("/e"));
  r->backend(0).Answer(Reply(200, "{}"));
  r->backend(1).Answer(Down(ErrorKind::kConnect, "refused"));
  ASSERT_TRUE(r->response());
  metrics::Snapshot s = r->registry().Read();
  EXPECT_EQ(s.endpoints.at(0).requests_by_class[1], 1u);  // 2xx (partial answer)
  EXPECT_EQ(s.endpoints.at(0).in_flight, 0);
  EXPECT_EQ(s.backends.at(0).calls, 1u);
  EXPECT_EQ(s.backends.at(1).calls, 1u);
  EXPECT_EQ(s.backends.at(1).failures[static_cast<int>(ErrorKind::kConnect)], 1u);
  EXPECT_EQ(s.backends.at(1).last_error, "connect: refused");
}

// ---------------------------------------------------------------------------------------------
// Sequential.

TEST(EndpointStackTest, SequentialCallsTheNextBackendWithTheEarlierAnswer) {
  auto r = Runner(File(R"({"endpoint": "/o/{id}", "method": "POST",
      "extra_config": {"proxy": {"sequential": true}},
      "backend": [{"url_pattern": "/orders/{id}"},
                  {"url_pattern": "/users/{resp0_customer.id}", "method": "GET",
                   "group": "user"}]})"));
  http::Request post = Get("/o/5");
  post.method(boost::beast::http::verb::post);
  post.body() = R"({"note": "first backend only"})";
  r->Start(std::move(post), {"5"});
  ASSERT_EQ(r->backend(0).pending(), 1u);
  EXPECT_EQ(r->backend(1).pending(), 0u) << "not before the first answers";
  EXPECT_EQ(r->backend(0).request().body, R"({"note": "first backend only"})");
  r->backend(0).Answer(Reply(200, R"({"customer": {"id": "c 9"}, "total": 3})"));
  ASSERT_EQ(r->backend(1).pending(), 1u);
  EXPECT_EQ(r->backend(1).request().target, "/users/c%209");
  EXPECT_EQ(r->backend(1).request().body, "") << "the body is not replayed along a chain";
  r->backend(1).Answer(Reply(200, R"({"name": "Ann"})"));
  ASSERT_TRUE(r->response());
  EXPECT_EQ(r->response()->body(), R"({"customer":{"id":"c 9"},"total":3,"user":{"name":"Ann"}})");
}

TEST(EndpointStackTest, SequentialStopsAtTheFirstFailure) {
  auto r = Runner(File(R"({"endpoint": "/s", "extra_config": {"proxy": {"sequential": true}},
      "backend": [{"url_pattern": "/a"}, {"url_pattern": "/b"}]})"));
  r->Start(Get("/s"));
  r->backend(0).Answer(Reply(503, "busy"));
  ASSERT_TRUE(r->response());
  EXPECT_EQ(r->response()->result_int(), 500u);
  EXPECT_EQ(r->backend(1).received().size(), 0u);
  // A later failure: a partial answer with what came before.
  r->Start(Get("/s"));
  r->backend(0).Answer(Reply(200, R"({"a": 1})"));
  r->backend(1).Answer(Down(ErrorKind::kTimeout, "deadline"));
  ASSERT_TRUE(r->response());
  EXPECT_EQ(r->response()->result_int(), 200u);
  EXPECT_EQ(r->response()->body(), R"({"a":1})");
  EXPECT_EQ(Header(*r->response(), "X-Krakend-Completed"), "false");
}

// ---------------------------------------------------------------------------------------------
// concurrent_calls.

TEST(EndpointStackTest, ConcurrentCallsTakeTheFirstSuccess) {
  auto r = Runner(File(R"({"endpoint": "/c", "concurrent_calls": 3,
      "backend": [{"url_pattern": "/a"}]})"));
  r->Start(Get("/c"));
  ASSERT_EQ(r->backend(0).pending(), 3u);
  r->backend(0).Answer(Down(ErrorKind::kReset, "reset"));
  EXPECT_FALSE(r->response()) << "a failed copy waits for the others";
  r->backend(0).Answer(Reply(200, R"({"copy": 2})"));
  ASSERT_TRUE(r->response()) << "the first success answers at once";
  EXPECT_EQ(r->response()->body(), R"({"copy":2})");
  r->backend(0).Answer(Reply(200, R"({"copy": 3})"));  // late: dropped, no second answer
  metrics::Snapshot s = r->registry().Read();
  EXPECT_EQ(s.backends.at(0).calls, 3u) << "every copy is a backend call";
}

TEST(EndpointStackTest, ConcurrentCallsAllFailingGiveTheLastFailure) {
  auto r = Runner(File(R"({"endpoint": "/c", "concurrent_calls": 2,
      "backend": [{"url_pattern": "/a", "extra_config": {"backend/http":
          {"return_error_code": true}}}]})"));
  r->Start(Get("/c"));
  r->backend(0).Answer(Reply(503, "first"));
  r->backend(0).Answer(Reply(429, "second"));
  ASSERT_TRUE(r->response());
  EXPECT_EQ(r->response()->result_int(), 429u);
}

// ---------------------------------------------------------------------------------------------
// proxy/static, errors, no-op.

TEST(EndpointStackTest, StaticDataJoinsByStrategy) {
  for (const auto& [strategy, ok_body, failed_body] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"always", R"({"a":1,"s":true})", R"({"s":true})"},
           {"complete", R"({"a":1,"s":true})", ""},
           {"incomplete", R"({"a":1})", R"({"s":true})"}}) {
    SCOPED_TRACE(strategy);
    auto r = Runner(File(R"({"endpoint": "/s", "backend": [{"url_pattern": "/a"}],
        "extra_config": {"proxy": {"static": {"strategy": ")" +
                         strategy + R"(", "data": {"s": true}}}}})"));
    r->Start(Get("/s"));
    r->backend(0).Answer(Reply(200, R"({"a": 1})"));
    ASSERT_TRUE(r->response());
    EXPECT_EQ(r->response()->body(), ok_body);
    r->Start(Get("/s"));
    r->backend(0).Answer(Down(ErrorKind::kConnect, "refused"));
    ASSERT_TRUE(r->response());
    EXPECT_EQ(r->response()->result_int(), failed_body.empty() ? 500u : 200u);
    EXPECT_EQ(r->response()->body(), failed_body);
  }
}

TEST(EndpointStackTest, GrpcFailuresMapToTheirHttpStatusInOnePlace) {
  auto r = Runner(File(R"({"endpoint": "/g", "backend": [{"url_pattern": "/a"}]})"));
  r->Start(Get("/g"));
  backend::BackendResponse failed;
  failed.error = backend::Error::Grpc(5, "no such product");
  r->backend(0).Answer(std::move(failed));
  ASSERT_TRUE(r->response());
  EXPECT_EQ(r->response()->result_int(), 404u);
  EXPECT_EQ(r->response()->body(), R"({"code":5,"message":"no such product"})");
  EXPECT_EQ(Header(*r->response(), "Content-Type"), "application/json");
}

TEST(EndpointStackTest, NoOpPassesTheBackendAnswerThrough) {
  auto r = Runner(File(R"({"endpoint": "/n", "output_encoding": "no-op",
      "backend": [{"url_pattern": "/a", "encoding": "no-op"}]})"));
  r->Start(Get("/n"));
  r->backend(0).Answer(Reply(418, "teapot body", "text/plain",
                             {{"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"Connection", "x"}}));
  ASSERT_TRUE(r->response());
  const http::Response& res = *r->response();
  EXPECT_EQ(res.result_int(), 418u);
  EXPECT_EQ(res.body(), "teapot body");
  EXPECT_EQ(res.count("Set-Cookie"), 2u);
  EXPECT_EQ(res.count("Connection"), 0u) << "hop-by-hop headers stay on their hop";
  EXPECT_EQ(Header(res, "X-Krakend-Completed"), "false");  // Lura: no decoded data
  // Every header but the hop-by-hop ones, in the backend's order, values and all.
  std::vector<std::string> lines;
  for (const auto& f : res)
    lines.push_back(std::string(Sv(f.name_string())) + ": " + std::string(Sv(f.value())));
  EXPECT_THAT(lines, ElementsAre("Content-Type: text/plain", "Set-Cookie: a=1", "Set-Cookie: b=2",
                                 "X-Krakend-Completed: false"));

  // A backend's own marker (a gateway behind this one) follows Lura's, as KrakenD adds it (Beast
  // keeps fields of one name together).
  r->Start(Get("/n"));
  r->backend(0).Answer(Reply(200, "{}", "application/json",
                             {{"X-Krakend-Completed", "true"}, {"Transfer-Encoding", "chunked"}}));
  ASSERT_TRUE(r->response());
  lines.clear();
  for (const auto& f : *r->response())
    lines.push_back(std::string(Sv(f.name_string())) + ": " + std::string(Sv(f.value())));
  EXPECT_THAT(lines, ElementsAre("X-Krakend-Completed: false", "X-Krakend-Completed: true",
                                 "Content-Type: application/json"));

  r->Start(Get("/n"));
  r->backend(0).Answer(Down(ErrorKind::kConnect, "refused"));
  ASSERT_TRUE(r->response());
  EXPECT_EQ(r->response()->result_int(), 500u);
  EXPECT_EQ(r->response()->body(), "");
  EXPECT_EQ(Header(*r->response(), "X-Krakend-Completed"), "false");
}

}  // namespace
}  // namespace sluice::pipeline
