// The proxy component (KrakenD's `proxy` namespace): its typed config, its `check` errors by
// JSON path, and its stage (proxy/static) in a real endpoint stack with fake backends.

#include <string>
#include <vector>

#include "gateway/components/proxy/config.h"
#include "gateway/components/proxy/static_stage.h"
#include "gateway/components/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/gateway/pipeline/stack_harness.h"

namespace sluice::components::proxy {
namespace {

using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::Field;

config::LoadResult Load(const std::string& endpoint_extra, const std::string& backend_extra = "") {
  const std::string file =
      R"({"version": 3, "host": ["127.0.0.1:1"], "endpoints": [
      {"endpoint": "/e", "extra_config": {"proxy": )" +
      endpoint_extra + R"(}, "backend": [{"url_pattern": "/a")" +
      (backend_extra.empty() ? "" : R"(, "extra_config": {"proxy": )" + backend_extra + "}") +
      "}]}]}";
  return components::ParseConfig(file, "proxy.json",
                                 [](const char*) { return std::optional<std::string>(); });
}

auto Diag(const std::string& path, const std::string& message) {
  return ::testing::AllOf(Field(&config::Diagnostic::path, path),
                          Field(&config::Diagnostic::message, message));
}

TEST(ProxyConfigTest, EndpointKeysParseIntoTheTypedConfig) {
  config::LoadResult r =
      Load(R"({"sequential": true, "static": {"strategy": "incomplete", "data": {"x": 1}}})");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].path << ": " << r.errors[0].message;
  const auto* c = r.config->endpoints[0].components.Get<EndpointConfig>(kNamespace);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->sequential);
  ASSERT_TRUE(c->static_response);
  EXPECT_EQ(c->static_response->strategy, StaticResponse::Strategy::kIncomplete);
  EXPECT_EQ(c->static_response->data, Json::parse(R"({"x": 1})"));
}

TEST(ProxyConfigTest, BadKeysAreCheckErrorsByJsonPath) {
  config::LoadResult r = Load(R"({"sequential": "perhaps", "static": {"strategy": "sometimes"}})",
                              R"({"flatmap_filter": [{"type": "copy", "args": []}]})");
  EXPECT_THAT(r.errors,
              ElementsAre(Diag("endpoints[0].extra_config.proxy.sequential",
                               "expected a boolean, got string"),
                          Diag("endpoints[0].extra_config.proxy.static.strategy",
                               "expected one of always, success, complete, errored, incomplete"),
                          Diag("endpoints[0].extra_config.proxy.static.data", "expected an object"),
                          Diag("endpoints[0].backend[0].extra_config.proxy.flatmap_filter",
                               "flatmap_filter[0].type \"copy\" is not one of move, del, append")));
  r = Load("{}", R"({"flatmap_filter": {}})");
  EXPECT_THAT(r.errors,
              ElementsAre(Diag("endpoints[0].backend[0].extra_config.proxy.flatmap_filter",
                               "flatmap_filter must be an array, got object")));
}

TEST(ProxyConfigTest, AnEmptyFlatmapMeansNoFlatmap) {
  config::LoadResult r = Load("{}", R"({"flatmap_filter": []})");
  ASSERT_TRUE(r.errors.empty());
  const auto* c = r.config->endpoints[0].backends[0].components.Get<BackendConfig>(kNamespace);
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->flatmap);
}

TEST(StaticResponseTest, StrategiesApplyToCompleteOrIncompleteAnswers) {
  StaticResponse s;
  for (auto [strategy, complete, incomplete] :
       std::vector<std::tuple<StaticResponse::Strategy, bool, bool>>{
           {StaticResponse::Strategy::kAlways, true, true},
           {StaticResponse::Strategy::kSuccess, true, false},
           {StaticResponse::Strategy::kComplete, true, false},
           {StaticResponse::Strategy::kErrored, false, true},
           {StaticResponse::Strategy::kIncomplete, false, true}}) {
    s.strategy = strategy;
    EXPECT_EQ(s.AppliesTo(true), complete);
    EXPECT_EQ(s.AppliesTo(false), incomplete);
  }
}

// The stage in a real stack: static keys overwrite the backends' on collision, and a failed
// endpoint with errored data answers 200 with it.
TEST(StaticStageTest, InAStackBetweenMergeAndRender) {
  auto runner = pipeline::fakes::StackRunner::Build(
      R"({"version": 3, "host": ["127.0.0.1:1"], "endpoints": [{"endpoint": "/e",
          "extra_config": {"proxy": {"static": {"strategy": "errored",
                                                "data": {"k": "static", "s": true}}}},
          "backend": [{"url_pattern": "/a"}, {"url_pattern": "/b"}]}]})");
  ASSERT_TRUE(runner.ok()) << runner.status();
  pipeline::fakes::StackRunner& r = **runner;
  r.Start(pipeline::fakes::Get("/e"));
  r.backend(0).Answer(pipeline::fakes::Reply(200, R"({"k": "backend", "a": 1})"));
  r.backend(1).Answer(pipeline::fakes::Down(backend::ErrorKind::kConnect, "refused"));
  ASSERT_TRUE(r.response());
  EXPECT_EQ(r.response()->result_int(), 200u);
  EXPECT_EQ(r.response()->body(), R"({"a":1,"k":"static","s":true})");
  r.Start(pipeline::fakes::Get("/e"));
  r.backend(0).Answer(pipeline::fakes::Reply(200, R"({"k": "backend"})"));
  r.backend(1).Answer(pipeline::fakes::Reply(200, R"({"b": 2})"));
  ASSERT_TRUE(r.response());
  EXPECT_EQ(r.response()->body(), R"({"b":2,"k":"backend"})") << "complete: no static data";
}

}  // namespace
}  // namespace sluice::components::proxy
