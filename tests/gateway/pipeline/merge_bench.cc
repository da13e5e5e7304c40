// Micro-benchmark (not a test): the per-request cost of the merge stage of an aggregating
// endpoint, from the three raw backend answers to the rendered client body, through the code the
// pipeline runs: DecodeAnswer x3 (status policy, JSON decoder, shaper with allow/mapping/group)
// and Merger::Merge (merge in declaration order, JSON render, headers). The endpoint comes from a
// KrakenD config parsed by the real loader and is assembled as BuildEndpointPipeline does.
// Each backend answers 200 with a JSON object of 20 fields (~350 bytes). Prints ns/request for:
//   copy          copying the three backend answers (Beast responses; DecodeAnswer consumes
//                 them, so each round needs fresh ones); the baseline subtracted below
//   decode x3     DecodeAnswer on each answer, minus `copy`
//   merge stage   DecodeAnswer x3 + Merger::Merge (with the JSON render), minus `copy`
// Run: bazel run -c opt //tests/gateway/pipeline:merge_bench [-- ROUNDS]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "boost/beast/http/field.hpp"
#include "gateway/backend/rest/client.h"
#include "gateway/config/config.h"
#include "gateway/pipeline/merge.h"
#include "gateway/pipeline/policy.h"
#include "gateway/shaping/shaping.h"
#include "nlohmann/json.hpp"

namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using sluice::backend::rest::CallResult;
namespace pipeline = sluice::pipeline;

// The same shaping as tests/gateway/shaping/shaping_bench.cc, written as a KrakenD file.
constexpr char kConfig[] = R"({
  "version": 3,
  "host": ["http://127.0.0.1:8000"],
  "endpoints": [{
    "endpoint": "/bench",
    "backend": [
      {"url_pattern": "/0",
       "allow": ["f0", "f1", "f2", "f3.x", "f4", "f5", "f6", "f7", "f8", "f9"],
       "mapping": {"f0": "id", "f1": "name"}},
      {"url_pattern": "/1",
       "allow": ["f0", "f2", "f4", "f6", "f8", "f10", "f12", "f14", "f16", "f18"],
       "mapping": {"f2": "flag"}, "group": "details"},
      {"url_pattern": "/2",
       "allow": ["f1", "f3", "f5", "f7", "f9", "f11", "f13.y", "f15"],
       "mapping": {"f3": "obj"}, "group": "extra"}
    ]
  }]
})";

// 20 fields of the kinds APIs return: strings, numbers, booleans, a small object, an array.
std::string Body(int backend) {
  Json v = Json::object();
  for (int i = 0; i < 20; ++i) {
    const std::string key = "f" + std::to_string(i);
    switch (i % 5) {
      case 0:
        v[key] = "value-" + std::to_string(backend) + "-" + std::to_string(i);
        break;
      case 1:
        v[key] = backend * 1000 + i;
        break;
      case 2:
        v[key] = (i % 2) == 0;
        break;
      case 3:
        v[key] = {{"x", i}, {"y", "nested"}, {"z", 1.5}};
        break;
      default:
        v[key] = {1, 2, 3};
        break;
    }
  }
  return v.dump();
}

CallResult Answer(int backend) {
  CallResult r;
  r.response.version(11);
  r.response.result(200);
  r.response.set(boost::beast::http::field::content_type, "application/json");
  r.response.body() = Body(backend);
  r.response.prepare_payload();
  return r;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "merge_bench: %s\n", what.c_str());
  std::exit(1);
}

// The merge stage of the endpoint, as BuildEndpointPipeline assembles it.
struct Stage {
  std::shared_ptr<const sluice::config::ServiceConfig> config;
  std::vector<pipeline::BackendPolicy> policies;
  std::vector<std::optional<sluice::shaping::BackendShaper>> shapers;
  std::optional<pipeline::Merger> merger;

  pipeline::Part Decode(size_t i, CallResult&& answer) const {
    return pipeline::DecodeAnswer(config->endpoints[0].backends[i], policies[i],
                                  shapers[i] ? &*shapers[i] : nullptr, std::move(answer));
  }
};

void Build(Stage& stage) {
  sluice::config::LoadResult loaded = sluice::config::ParseConfig(
      kConfig, "merge_bench.json",
      [](const char*) -> std::optional<std::string> { return std::nullopt; });
  if (!loaded.errors.empty()) Die(loaded.errors[0].path + ": " + loaded.errors[0].message);
  stage.config = loaded.config;
  const sluice::config::Endpoint& endpoint = stage.config->endpoints[0];
  auto endpoint_policy = pipeline::EndpointPolicy::FromConfig(*stage.config, endpoint);
  if (!endpoint_policy.ok()) Die(std::string(endpoint_policy.status().message()));
  std::vector<bool> return_error_code;
  for (const sluice::config::Backend& b : endpoint.backends) {
    auto policy = pipeline::BackendPolicy::FromConfig(b);
    if (!policy.ok()) Die(std::string(policy.status().message()));
    auto shaper = sluice::shaping::BackendShaper::Create(b);
    if (!shaper.ok()) Die(std::string(shaper.status().message()));
    return_error_code.push_back(policy->return_error_code);
    stage.policies.push_back(*std::move(policy));
    stage.shapers.push_back(*std::move(shaper));
  }
  stage.merger.emplace(endpoint, *std::move(endpoint_policy), std::move(return_error_code));
}

constexpr int kTrials = 5;  // the minimum of several trials filters out other load

double NsPer(Clock::duration d, long rounds) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()) /
         static_cast<double>(rounds);
}

}  // namespace

int main(int argc, char** argv) {
  const long rounds = argc > 1 ? std::atol(argv[1]) : 50000;
  if (rounds <= 0) Die("ROUNDS must be positive");
  Stage stage;
  Build(stage);
  const std::vector<CallResult> answers = {Answer(0), Answer(1), Answer(2)};
  size_t sink = 0;  // keeps the optimiser from dropping the work

  // Warm-up, and the answer for the record: it must be a complete 200.
  {
    std::vector<CallResult> fresh = answers;
    std::vector<pipeline::Part> parts(fresh.size());
    for (size_t i = 0; i < fresh.size(); ++i) parts[i] = stage.Decode(i, std::move(fresh[i]));
    sluice::http::Response res = stage.merger->Merge(parts, "");
    if (res.result_int() != 200 || res["X-Krakend-Completed"] != "true") {
      Die("the merge stage did not answer a complete 200");
    }
    std::printf("backend bodies: %zu, %zu, %zu bytes\n", answers[0].response.body().size(),
                answers[1].response.body().size(), answers[2].response.body().size());
    std::printf("client body (%zu bytes): %s\n\n", res.body().size(), res.body().c_str());
  }

  double copy_ns = 1e18;
  double decode_ns = 1e18;
  double stage_ns = 1e18;
  for (int trial = 0; trial < kTrials; ++trial) {
    auto start = Clock::now();
    for (long r = 0; r < rounds; ++r) {
      std::vector<CallResult> fresh = answers;
      sink += fresh[2].response.body().size();
    }
    copy_ns = std::min(copy_ns, NsPer(Clock::now() - start, rounds));

    start = Clock::now();
    for (long r = 0; r < rounds; ++r) {
      std::vector<CallResult> fresh = answers;
      std::vector<pipeline::Part> parts(fresh.size());
      for (size_t i = 0; i < fresh.size(); ++i) parts[i] = stage.Decode(i, std::move(fresh[i]));
      sink += parts[2].data->size();
    }
    decode_ns = std::min(decode_ns, NsPer(Clock::now() - start, rounds));

    start = Clock::now();
    for (long r = 0; r < rounds; ++r) {
      std::vector<CallResult> fresh = answers;
      std::vector<pipeline::Part> parts(fresh.size());
      for (size_t i = 0; i < fresh.size(); ++i) parts[i] = stage.Decode(i, std::move(fresh[i]));
      sink += stage.merger->Merge(parts, "").body().size();
    }
    stage_ns = std::min(stage_ns, NsPer(Clock::now() - start, rounds));
  }

  std::printf(
      "rounds: %ld, best of %d trials; 3 backends x 20 fields, allow/mapping/group, output json\n",
      rounds, kTrials);
  std::printf("copy (baseline):                %8.0f ns/request\n", copy_ns);
  std::printf("DecodeAnswer x3:                %8.0f ns/request\n", decode_ns - copy_ns);
  std::printf("Merger::Merge (+ JSON render):  %8.0f ns/request\n", stage_ns - decode_ns);
  std::printf("merge stage (decode+merge+render): %5.0f ns/request\n", stage_ns - copy_ns);
  return sink == 0 ? 1 : 0;
}
