// Micro-benchmark (not a test): the per-request cost of an aggregating endpoint's stack, from the
// client's request to the rendered client body, with the three backends answered by fakes
// (tests/gateway/pipeline/stack_harness.h): the stack BuildEndpointStack assembles (metrics,
// error mapping, render, merge, fan-out; per backend: request builder, round robin, status
// policy, JSON decoder, shaper with allow/mapping/group, backend metrics). Each backend answers
// 200 with a JSON object of 20 fields (~350 bytes). Prints ns/request for:
//   copy          copying the three backend answers (each round needs fresh ones); the baseline
//   stack         a request through the whole stack, minus `copy`
// Run: bazel run -c opt //tests/gateway/pipeline:merge_bench [-- ROUNDS]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "boost/beast/http/field.hpp"
#include "nlohmann/json.hpp"
#include "tests/gateway/pipeline/stack_harness.h"

namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using Answer_t = sluice::backend::BackendResponse;
namespace fakes = sluice::pipeline::fakes;

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

Answer_t Answer(int backend) { return fakes::Reply(200, Body(backend)); }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "merge_bench: %s\n", what.c_str());
  std::exit(1);
}

constexpr int kTrials = 5;  // the minimum of several trials filters out other load

double NsPer(Clock::duration d, long rounds) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()) /
         static_cast<double>(rounds);
}

// One request through the stack; returns the client's answer's body size.
size_t Round(fakes::StackRunner& runner, std::vector<Answer_t> fresh) {
  runner.Start(fakes::Get("/bench"));
  for (size_t i = 0; i < fresh.size(); ++i) runner.backend(i).Answer(std::move(fresh[i]));
  return runner.response()->body().size();
}

}  // namespace

int main(int argc, char** argv) {
  const long rounds = argc > 1 ? std::atol(argv[1]) : 50000;
  if (rounds <= 0) Die("ROUNDS must be positive");
  auto built = fakes::StackRunner::Build(kConfig);
  if (!built.ok()) Die(std::string(built.status().message()));
  fakes::StackRunner& runner = **built;
  const std::vector<Answer_t> answers = {Answer(0), Answer(1), Answer(2)};
  size_t sink = 0;  // keeps the optimiser from dropping the work

  // Warm-up, and the answer for the record: it must be a complete 200.
  {
    Round(runner, answers);
    const auto& res = runner.response();
    if (!res || res->result_int() != 200 || (*res)["X-Krakend-Completed"] != "true") {
      Die("the stack did not answer a complete 200");
    }
    std::printf("backend bodies: %zu, %zu, %zu bytes\n", answers[0].body.size(),
                answers[1].body.size(), answers[2].body.size());
    std::printf("client body (%zu bytes): %s\n\n", res->body().size(), res->body().c_str());
  }

  double copy_ns = 1e18;
  double stack_ns = 1e18;
  for (int trial = 0; trial < kTrials; ++trial) {
    auto start = Clock::now();
    for (long r = 0; r < rounds; ++r) {
      std::vector<Answer_t> fresh = answers;
      sink += fresh[2].body.size();
    }
    copy_ns = std::min(copy_ns, NsPer(Clock::now() - start, rounds));

    start = Clock::now();
    for (long r = 0; r < rounds; ++r) sink += Round(runner, answers);
    stack_ns = std::min(stack_ns, NsPer(Clock::now() - start, rounds));
  }

  std::printf(
      "rounds: %ld, best of %d trials; 3 backends x 20 fields, allow/mapping/group, output json\n",
      rounds, kTrials);
  std::printf("copy (baseline):                     %8.0f ns/request\n", copy_ns);
  std::printf("endpoint stack (request to answer):  %8.0f ns/request\n", stack_ns - copy_ns);
  return sink == 0 ? 1 : 0;
}
