// JSON <-> protobuf transcoding as the gRPC backends use it, on the test protos (shop: scalars of
// every kind, enums, repeated, maps, oneof, nested messages, Timestamp, Duration, Struct, bytes;
// wire: proto2 defaults, closed enums, packed fields, maps of messages, required fields, an
// extension): the first byte picks the message type (0x80: wire.W) and the output options; the rest
// is read as JSON (JsonToMessage, then MessageToJson of the result) and as protobuf wire bytes
// (parsed, then MessageToJson, then JsonToMessage of that JSON into a fresh message). Nothing may
// crash or run away; the JSON a message renders with proto names must read back; the direct render
// (RenderMessageJson) must write what the tree renders, or fail with the same error; and what
// RenderWireJson writes from the bytes must be what the tree renders for the message they parse
// into.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/backend/grpc/transcode.h"
#include "gateway/encoding/json.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"
#include "proto/shop/shop.pb.h"
#include "proto/wire/wire.pb.h"

namespace {

std::unique_ptr<google::protobuf::Message> NewMessage(uint8_t which) {
  if (which & 0x80) return std::make_unique<wire::W>();  // proto2, maps of messages, extensions
  switch (which % 4) {
    case 0:
      return std::make_unique<shop::Product>();
    case 1:
      return std::make_unique<shop::SearchRequest>();
    case 2:
      return std::make_unique<shop::GetProductRequest>();
    default:
      return std::make_unique<shop::SearchReply>();  // products, a map, a Struct inside
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  namespace grpc = sluice::backend::grpc;
  const uint8_t control = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  grpc::OutputOptions options;
  options.camel_case = control & 0x04;
  options.enums_as_strings = control & 0x08;
  options.timestamps_as_strings = control & 0x10;
  options.durations_as_strings = control & 0x20;
  options.omit_unset = control & 0x40;

  // As JSON (a client's request body, query parameters).
  const nlohmann::json json = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!json.is_discarded()) {
    std::unique_ptr<google::protobuf::Message> message = NewMessage(control);
    if (grpc::JsonToMessage(json, message.get()).ok()) {
      (void)grpc::MessageToJson(*message, options);
    }
  }

  // As wire bytes (a backend's reply), first as the backend reads them: straight to JSON where
  // RenderWireJson can, which must then be what the tree path gives for the parsed reply (a
  // DynamicMessage, as the backend's catalog makes them).
  static google::protobuf::DynamicMessageFactory factory;
  const google::protobuf::Message* dynamic =
      factory.GetPrototype(NewMessage(control)->GetDescriptor());
  auto wire_layout = grpc::JsonLayout::Create(dynamic->GetDescriptor(), options, &factory);
  std::string wire;
  if (grpc::RenderWireJson(bytes, *wire_layout, &wire)) {
    std::unique_ptr<google::protobuf::Message> parsed(dynamic->New());
    if (!parsed->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) std::abort();
    auto tree = grpc::MessageToJson(*parsed, options);
    if (!tree.ok() || wire != sluice::encoding::RenderJson(*tree)) std::abort();
  } else if (!wire.empty()) {
    std::abort();  // a declined render leaves `out` as it was
  }

  std::unique_ptr<google::protobuf::Message> reply = NewMessage(control);
  if (reply->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    auto rendered = grpc::MessageToJson(*reply, options);
    std::string direct;
    auto layout = grpc::JsonLayout::Create(reply->GetDescriptor(), options);
    const absl::Status direct_status = grpc::RenderMessageJson(*reply, *layout, &direct);
    if (direct_status.ok() != rendered.ok() ||
        (rendered.ok() && direct != sluice::encoding::RenderJson(*rendered)) ||
        (!rendered.ok() && direct_status.message() != rendered.status().message())) {
      std::abort();
    }
    if (rendered.ok()) {
      std::unique_ptr<google::protobuf::Message> again = NewMessage(control);
      const bool read_back = grpc::JsonToMessage(*rendered, again.get()).ok();
      // Proto names, numbers for enums, objects for Timestamp and Duration, every field: what
      // the renderer writes this way the reader must take. Held for the shop protos only: a
      // proto2 string need not be UTF-8, the tree keeps its bytes (the rendered text has
      // U+FFFD for them) and JsonToMessage refuses such a string, as it should.
      if (!options.camel_case && !options.enums_as_strings && !options.timestamps_as_strings &&
          !options.durations_as_strings && !read_back && !(control & 0x80)) {
        std::abort();
      }
    }
  }
  return 0;
}
