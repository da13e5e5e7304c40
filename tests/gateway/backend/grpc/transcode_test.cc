// JSON <-> protobuf by reflection (gateway/backend/grpc/transcode), on the generated classes of
// proto/shop (the same descriptors the catalog loads) and on well-known types. Exact JSON text:
// RenderJson is not involved, nlohmann's dump() sorts keys.

#include <cmath>
#include <string>

#include "gateway/backend/grpc/transcode.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "proto/shop/shop.pb.h"

namespace sluice::backend::grpc {
namespace {

using nlohmann::json;

std::string Out(const google::protobuf::Message& m, OutputOptions o = {}) {
  auto j = MessageToJson(m, o);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? j->dump() : "";
}

// What JsonToMessage says about `text` for a SearchRequest ("" when it succeeds).
std::string InError(const std::string& text, shop::SearchRequest* out = nullptr) {
  shop::SearchRequest m;
  absl::Status s = JsonToMessage(json::parse(text), &m);
  if (out != nullptr) *out = m;
  return s.ok() ? "" : std::string(s.message());
}

TEST(TranscodeTest, FloatsPrintTheirShortestForm) {
  google::protobuf::FloatValue f;
  f.set_value(19.1f);
  EXPECT_EQ(Out(f), "19.1");  // not 19.100000381469727
  f.set_value(std::nanf(""));
  EXPECT_EQ(Out(f), "\"NaN\"");
}

TEST(TranscodeTest, DurationsAndTimestampsAsStringsOnlyWithinTheirRange) {
  OutputOptions o;
  o.durations_as_strings = true;
  o.timestamps_as_strings = true;
  google::protobuf::Duration d;
  d.set_seconds(-1);
  d.set_nanos(-500000000);
  EXPECT_EQ(Out(d, o), "\"-1.500s\"");
  d.set_nanos(2000000000);  // out of range (a hostile backend): no overflow, the raw object
  EXPECT_EQ(Out(d, o), R"({"nanos":2000000000,"seconds":-1})");
  google::protobuf::Timestamp t;
  t.set_seconds(0);
  t.set_nanos(1000);
  EXPECT_EQ(Out(t, o), "\"1970-01-01T00:00:00.000001Z\"");
  t.set_seconds(INT64_MAX);
  EXPECT_EQ(Out(t, o), R"({"nanos":1000,"seconds":9223372036854775807})");
}

TEST(TranscodeTest, UnsetFieldsPrintedOrOmittedAndOneofShowsItsMemberOnly) {
  shop::Product p;
  p.set_id(7);
  p.set_unavailable_reason("gone");
  EXPECT_EQ(Out(p),
            R"({"dimensions":null,"id":7,"kind":0,"name":"","shipping_time":null,"stock":{},)"
            R"("tags":[],"thumbnail":"","unavailable_reason":"gone","updated_at":null})");
  OutputOptions o;
  o.omit_unset = true;
  o.camel_case = true;
  EXPECT_EQ(Out(p, o), R"({"id":7,"unavailableReason":"gone"})");
}

TEST(TranscodeTest, AReplyOverTheValueBudgetFails) {
  shop::SearchReply r;
  for (int i = 0; i < 10; ++i) r.add_products();  // 10 empty products, 11 fields each
  EXPECT_TRUE(MessageToJson(r, {}, 1000).ok());
  auto over = MessageToJson(r, {}, 50);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().message(), "the reply would render more than 50 JSON values");
}

TEST(TranscodeTest, ScalarsFromStringsAndNumbers) {
  shop::SearchRequest m;
  EXPECT_EQ(InError(R"({"pageSize": "12", "kind": 2, "tags": "one",
                        "filter": {"inStock": "true", "price": {"min": "-9223372036854775808",
                                                              "max": 3.0}}})",
                    &m),
            "");
  EXPECT_EQ(m.page_size(), 12);
  EXPECT_EQ(m.kind(), shop::GAME);
  ASSERT_EQ(m.tags_size(), 1);
  EXPECT_EQ(m.tags(0), "one");
  EXPECT_TRUE(m.filter().in_stock());
  EXPECT_EQ(m.filter().price().min(), INT64_MIN);
  EXPECT_EQ(m.filter().price().max(), 3);
}

TEST(TranscodeTest, WrongInputNamesTheField) {
  EXPECT_EQ(InError(R"({"page_size": 2.5})"),
            "field \"page_size\": expected a 32-bit integer, got the number 2.5");
  EXPECT_EQ(InError(R"({"filter": {"price": {"max": 18446744073709551616.0}}})"),
            "field \"filter.price.max\": expected a 64-bit integer, got the number "
            "1.8446744073709552e+19");
  EXPECT_EQ(InError(R"({"filter": {"in_stock": "yes"}})"),
            "field \"filter.in_stock\": expected true or false, got the string \"yes\"");
  EXPECT_EQ(InError(R"({"query": 5})"), "field \"query\": expected a string, got the number 5");
  EXPECT_EQ(InError(R"({"tags": ["a", {}]})"), "field \"tags\": expected a string, got an object");
  EXPECT_EQ(InError(R"({"since": {"seconds": "x"}})"),
            "field \"since.seconds\": expected a 64-bit integer, got the string \"x\"");
  EXPECT_EQ(InError(R"({"filter": {"bogus": 1}})"),
            "field \"filter.bogus\": unknown field of shop.SearchRequest.Filter");
}

TEST(TranscodeTest, StructTakesAnyJsonAndNullIsAValueThere) {
  shop::SearchRequest m;
  EXPECT_EQ(InError(R"({"labels": {"a": null, "b": [true, "x"], "c": {"d": 1}}})", &m), "");
  const auto& f = m.labels().fields();
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f.at("a").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(f.at("b").list_value().values(1).string_value(), "x");
  EXPECT_EQ(f.at("c").struct_value().fields().at("d").number_value(), 1.0);
  EXPECT_EQ(Out(m.labels()), R"({"a":null,"b":[true,"x"],"c":{"d":1.0}})");
}

TEST(TranscodeTest, ResolvePathByProtoOrJsonNames) {
  const auto* type = shop::SearchRequest::descriptor();
  auto path = ResolvePath(type, "filter.price.min");
  ASSERT_EQ(path.size(), 3u);
  EXPECT_EQ(path.back()->full_name(), "shop.SearchRequest.Range.min");
  EXPECT_EQ(ResolvePath(type, "filter.inStock").size(), 2u);
  EXPECT_TRUE(ResolvePath(type, "filter.nope").empty());
  EXPECT_TRUE(ResolvePath(type, "tags.x").empty());  // a scalar has no fields
}

}  // namespace
}  // namespace sluice::backend::grpc
