// Micro-benchmark (not a test): the per-request cost of shaping three backend responses of 20
// fields each with allow/mapping/group and merging them at the top level, as an aggregating
// endpoint does. Prints ns/request for:
//   copy          copying the three decoded inputs (Apply mutates, so each round needs fresh
//                 ones); the baseline subtracted below
//   shape+merge   copy + BackendShaper::Apply on each + top-level merge, minus `copy`
//   end-to-end    DecodeJson of three bodies + shape + merge + RenderJson
// Run: bazel run //tests/gateway/shaping:shaping_bench [-- ROUNDS]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gateway/config/config.h"
#include "gateway/encoding/json.h"
#include "gateway/shaping/shaping.h"
#include "nlohmann/json.hpp"

namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// 20 fields of the kinds APIs return: strings, numbers, booleans, a small object, an array.
Json Response(int backend) {
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
  return v;
}

std::vector<sluice::shaping::BackendShaper> Shapers() {
  std::vector<sluice::config::Backend> backends(3);
  backends[0].allow = {"f0", "f1", "f2", "f3.x", "f4", "f5", "f6", "f7", "f8", "f9"};
  backends[0].mapping = {{"f0", "id"}, {"f1", "name"}};
  backends[1].allow = {"f0", "f2", "f4", "f6", "f8", "f10", "f12", "f14", "f16", "f18"};
  backends[1].mapping = {{"f2", "flag"}};
  backends[1].group = "details";
  backends[2].allow = {"f1", "f3", "f5", "f7", "f9", "f11", "f13.y", "f15"};
  backends[2].mapping = {{"f3", "obj"}};
  backends[2].group = "extra";
  std::vector<sluice::shaping::BackendShaper> shapers;
  for (const auto& b : backends) {
    absl::StatusOr<sluice::shaping::BackendShaper> s = sluice::shaping::BackendShaper::Create(b);
    if (!s.ok()) {
      std::fprintf(stderr, "config: %s\n", std::string(s.status().message()).c_str());
      std::exit(1);
    }
    shapers.push_back(*std::move(s));
  }
  return shapers;
}

Json ShapeAndMerge(const std::vector<sluice::shaping::BackendShaper>& shapers,
                   std::vector<Json>& parts) {
  // Declaration order; a later backend overwrites an earlier one's key.
  Json merged;
  for (size_t i = 0; i < parts.size(); ++i) {
    shapers[i].Apply(parts[i]);
    if (i == 0) {
      merged = std::move(parts[0]);
      continue;
    }
    for (auto& [key, value] : parts[i].items()) merged[key] = std::move(value);
  }
  return merged;
}

constexpr int kTrials = 5;  // the minimum of several trials filters out other load

double NsPer(Clock::duration d, long rounds) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()) /
         static_cast<double>(rounds);
}

}  // namespace

int main(int argc, char** argv) {
  const long rounds = argc > 1 ? std::atol(argv[1]) : 200000;
  const std::vector<Json> inputs = {Response(0), Response(1), Response(2)};
  const std::vector<sluice::shaping::BackendShaper> shapers = Shapers();
  size_t sink = 0;  // keeps the optimiser from dropping the work

  // Warm-up, and the merged shape for the record.
  {
    std::vector<Json> parts = inputs;
    std::printf("merged answer: %s\n\n",
                sluice::encoding::RenderJson(ShapeAndMerge(shapers, parts)).c_str());
  }

  double copy_ns = 1e18;
  double total_ns = 1e18;
  for (int trial = 0; trial < kTrials; ++trial) {
    auto start = Clock::now();
    for (long r = 0; r < rounds; ++r) {
      std::vector<Json> parts = inputs;
      sink += parts[2].size();
    }
    copy_ns = std::min(copy_ns, NsPer(Clock::now() - start, rounds));

    start = Clock::now();
    for (long r = 0; r < rounds; ++r) {
      std::vector<Json> parts = inputs;
      sink += ShapeAndMerge(shapers, parts).size();
    }
    total_ns = std::min(total_ns, NsPer(Clock::now() - start, rounds));
  }

  std::vector<std::string> bodies;
  for (const Json& v : inputs) bodies.push_back(v.dump());
  const long e2e_rounds = rounds / 4 > 0 ? rounds / 4 : 1;
  double e2e_ns = 1e18;
  for (int trial = 0; trial < kTrials; ++trial) {
    const auto start = Clock::now();
    for (long r = 0; r < e2e_rounds; ++r) {
      std::vector<Json> parts;
      for (const std::string& body : bodies) {
        parts.push_back(*sluice::encoding::DecodeJson(body, false));
      }
      sink += sluice::encoding::RenderJson(ShapeAndMerge(shapers, parts)).size();
    }
    e2e_ns = std::min(e2e_ns, NsPer(Clock::now() - start, e2e_rounds));
  }

  std::printf(
      "rounds: %ld (end-to-end: %ld), best of %d trials; 3 backends x 20 fields, "
      "allow/mapping/group\n",
      rounds, e2e_rounds, kTrials);
  std::printf("copy (baseline):        %8.0f ns/request\n", copy_ns);
  std::printf("shape+merge:            %8.0f ns/request\n", total_ns - copy_ns);
  std::printf("decode+shape+merge+render: %5.0f ns/request\n", e2e_ns);
  return sink == 0 ? 1 : 0;
}
