// Micro-benchmark (not a test): the cost of turning a gRPC reply's wire bytes into the JSON the
// client gets, per reply, three ways (gateway/backend/grpc/transcode.h), on a DynamicMessage as
// the backends' catalogs make them, with the protobuf arena the backend uses:
//   tree    parse, MessageToJson, encoding::RenderJson (the path before the direct renders)
//   direct  parse, RenderMessageJson
//   wire    RenderWireJson (no parse)
// The reply is a shop.Product of ~150 bytes with every field set. Prints the best of several
// rounds in ns/reply (the machine's noise only ever adds).
// Run: bazel run -c opt //tests/gateway/backend/grpc:transcode_bench [-- REPLIES]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gateway/backend/grpc/transcode.h"
#include "gateway/encoding/json.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/dynamic_message.h"
#include "proto/shop/shop.pb.h"

namespace {

namespace gpb = google::protobuf;
namespace grpc = sluice::backend::grpc;
using Clock = std::chrono::steady_clock;

std::string Reply() {
  shop::Product p;
  p.set_id(1);
  p.set_name("The Pragmatic Programmer");
  p.set_kind(shop::BOOK);
  p.add_tags("programming");
  p.add_tags("classic");
  (*p.mutable_stock())["madrid"] = 12;
  (*p.mutable_stock())["berlin"] = 3;
  p.mutable_price()->set_currency("EUR");
  p.mutable_price()->set_units(39);
  p.mutable_price()->set_nanos(990000000);
  p.mutable_updated_at()->set_seconds(1700000000);
  p.mutable_dimensions()->set_width_cm(18.7);
  p.mutable_dimensions()->set_height_cm(23.5);
  p.mutable_shipping_time()->set_seconds(172800);
  p.set_thumbnail("\x89PNG");
  return p.SerializeAsString();
}

}  // namespace

int main(int argc, char** argv) {
  const int replies = argc > 1 ? std::atoi(argv[1]) : 200000;
  const std::string bytes = Reply();
  gpb::DynamicMessageFactory factory;
  const gpb::Message* prototype = factory.GetPrototype(shop::Product::descriptor());
  grpc::OutputOptions options;
  options.enums_as_strings = true;
  const auto layout = grpc::JsonLayout::Create(prototype->GetDescriptor(), options, &factory);
  size_t sink = 0;
  auto parse = [&](gpb::Arena* arena) {
    gpb::Message* m = prototype->New(arena);
    if (!m->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) std::abort();
    return m;
  };
  auto tree = [&] {
    alignas(8) char block[4096];
    gpb::Arena arena(block, sizeof block);
    sink += sluice::encoding::RenderJson(*grpc::MessageToJson(*parse(&arena), options)).size();
  };
  auto direct = [&] {
    alignas(8) char block[4096];
    gpb::Arena arena(block, sizeof block);
    std::string out;
    out.reserve(512);
    if (!grpc::RenderMessageJson(*parse(&arena), *layout, &out).ok()) std::abort();
    sink += out.size();
  };
  auto wire = [&] {
    std::string out;
    out.reserve(512);
    if (!grpc::RenderWireJson(bytes, *layout, &out)) std::abort();
    sink += out.size();
  };
  double best[3] = {1e18, 1e18, 1e18};
  for (int round = 0; round < 7; ++round) {
    for (int run : {0, 1, 2}) {
      const auto start = Clock::now();
      for (int k = 0; k < replies; ++k) {
        if (run == 0) tree();
        if (run == 1) direct();
        if (run == 2) wire();
      }
      const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
      best[run] = std::min(best[run], ns / replies);
    }
  }
  std::printf("reply %zu bytes; ns/reply, best of 7 rounds of %d:\n", bytes.size(), replies);
  std::printf("  tree    %8.0f\n  direct  %8.0f\n  wire    %8.0f\n", best[0], best[1], best[2]);
  return sink == 0;
}
