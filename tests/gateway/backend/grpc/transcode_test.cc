// JSON <-> protobuf by reflection (gateway/backend/grpc/transcode), on the generated classes of
// proto/shop (the same descriptors the catalog loads) and on well-known types. Exact JSON text:
// RenderJson is not involved, nlohmann's dump() sorts keys.

#include "gateway/backend/grpc/transcode.h"

#include <cmath>
#include <string>

#include "gateway/encoding/json.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/dynamic_message.h"
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

// RenderMessageJson must write exactly what the tree path writes: RenderJson(MessageToJson).
std::string Tree(const google::protobuf::Message& m, OutputOptions o, int64_t budget) {
  auto j = MessageToJson(m, o, budget);
  return j.ok() ? encoding::RenderJson(*j) : "error: " + std::string(j.status().message());
}

std::string Direct(const google::protobuf::Message& m, OutputOptions o, int64_t budget) {
  auto layout = JsonLayout::Create(m.GetDescriptor(), o);
  if (layout == nullptr) return "no layout";
  std::string out;
  absl::Status s = RenderMessageJson(m, *layout, &out, budget);
  return s.ok() ? out : "error: " + std::string(s.message());
}

OutputOptions Options(int bits) {
  OutputOptions o;
  o.camel_case = bits & 1;
  o.enums_as_strings = bits & 2;
  o.timestamps_as_strings = bits & 4;
  o.durations_as_strings = bits & 8;
  o.omit_unset = bits & 16;
  return o;
}

shop::SearchReply FullReply() {
  shop::SearchReply r;
  shop::SearchRequest* echo = r.mutable_echo();
  echo->set_query(std::string("quote \" backslash \\ tab \t nul \0 end\x01", 36));
  echo->set_kind(shop::GAME);
  echo->add_tags("caf\xc3\xa9");
  echo->add_tags("\xf0\x9f\x9a\x80 \xe2\x80\xa8");
  echo->mutable_filter()->mutable_price()->set_min(INT64_MIN);
  echo->mutable_filter()->mutable_price()->set_max(INT64_MAX);
  echo->set_page_size(-3);
  echo->mutable_since()->set_seconds(1700000000);
  echo->mutable_since()->set_nanos(500);
  auto& labels = *echo->mutable_labels()->mutable_fields();
  labels["z"].set_number_value(0.1);
  labels["a"].mutable_list_value()->add_values()->set_bool_value(true);
  labels["m"].mutable_struct_value();
  labels["n"].set_null_value(google::protobuf::NULL_VALUE);
  (*r.mutable_metadata())["x-b"] = "2";
  (*r.mutable_metadata())["x-a"] = "1";
  (*r.mutable_metadata())["\xc3\xa9t\xc3\xa9"] = "summer";
  (*r.mutable_metadata())["Z"] = "";
  shop::Product* p = r.add_products();
  p->set_id(42);
  p->set_name("Gaming chair");
  p->set_kind(static_cast<shop::Kind>(7));  // a number the enum does not name
  (*p->mutable_stock())["9"] = 1;
  (*p->mutable_stock())["10"] = -2;
  p->mutable_price()->set_currency("EUR");
  p->mutable_price()->set_units(199);
  p->mutable_dimensions()->set_width_cm(1e300);
  p->mutable_dimensions()->set_height_cm(-0.0);
  p->mutable_shipping_time()->set_seconds(3);
  p->mutable_shipping_time()->set_nanos(-1);  // out of range: printed as fields
  p->set_thumbnail(std::string("\0\xff\x10png", 6));
  shop::Product* q = r.add_products();
  q->set_unavailable_reason("sold out");
  q->set_kind(shop::BOOK);
  r.add_products();
  r.set_total(3);
  return r;
}

TEST(TranscodeTest, RenderMessageJsonWritesWhatTheTreeRendersUnderEveryOption) {
  const shop::SearchReply full = FullReply();
  const shop::SearchReply empty;
  for (int bits = 0; bits < 32; ++bits) {
    const OutputOptions o = Options(bits);
    EXPECT_EQ(Direct(full, o, kMaxReplyValues), Tree(full, o, kMaxReplyValues)) << bits;
    EXPECT_EQ(Direct(empty, o, kMaxReplyValues), Tree(empty, o, kMaxReplyValues)) << bits;
  }
  // A few spot checks of the common form, so a change to both paths is seen too.
  const std::string out = Direct(full, {}, kMaxReplyValues);
  EXPECT_NE(out.find(R"("stock":{"10":-2,"9":1})"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("metadata":{"Z":"","x-a":"1","x-b":"2","été":"summer"})"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(R"("query":"quote \" backslash \\ tab \t nul \u0000 end\u0001")"),
            std::string::npos)
      << out;
}

TEST(TranscodeTest, RenderMessageJsonFailsOnTheBudgetWhereTheTreeDoes) {
  const shop::SearchReply full = FullReply();
  for (int bits : {0, 16}) {
    for (int64_t budget = 0; budget <= 80; ++budget) {
      EXPECT_EQ(Direct(full, Options(bits), budget), Tree(full, Options(bits), budget))
          << "budget " << budget << ", options " << bits;
    }
  }
  EXPECT_EQ(Direct(full, {}, 5), "error: the reply would render more than 5 JSON values");
}

TEST(TranscodeTest, RenderMessageJsonReplacesInvalidUtf8AsTheTreeDoes) {
  shop::SearchReply r;
  r.set_server("bad \xff byte");
  (*r.mutable_metadata())["k\xc0"] = "v\xed\xa0\x80";  // an overlong lead, a surrogate
  EXPECT_EQ(Direct(r, {}, kMaxReplyValues), Tree(r, {}, kMaxReplyValues));
  EXPECT_NE(Direct(r, {}, kMaxReplyValues).find("bad \xef\xbf\xbd byte"), std::string::npos);
}

TEST(TranscodeTest, RenderMessageJsonKeepsTheLastOfFieldsSharingAJsonName) {
  // proto2 allows two fields whose lowerCamel names collide ("foo_bar", "fooBar"): with
  // camel_case the tree's later assignment wins, and the loser's values still count. A
  // json_name may be any bytes.
  google::protobuf::FileDescriptorProto file;
  file.set_name("collide.proto");
  file.set_package("collide");
  auto* message = file.add_message_type();
  message->set_name("M");
  auto add = [&](const char* name, int number, bool repeated) {
    auto* f = message->add_field();
    f->set_name(name);
    f->set_number(number);
    f->set_type(google::protobuf::FieldDescriptorProto::TYPE_INT32);
    f->set_label(repeated ? google::protobuf::FieldDescriptorProto::LABEL_REPEATED
                          : google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
  };
  add("foo_bar", 1, true);
  add("fooBar", 2, false);
  add("a", 3, false);
  add("b", 4, false);
  message->mutable_field(3)->set_json_name("b\xff");  // not UTF-8: replaced, as the tree does
  google::protobuf::DescriptorPool pool;
  const google::protobuf::FileDescriptor* built = pool.BuildFile(file);
  ASSERT_NE(built, nullptr);
  google::protobuf::DynamicMessageFactory factory(&pool);
  const google::protobuf::Descriptor* type = built->message_type(0);
  std::unique_ptr<google::protobuf::Message> m(factory.GetPrototype(type)->New());
  const auto* r = m->GetReflection();
  for (int i = 0; i < 5; ++i) r->AddInt32(m.get(), type->field(0), i);
  r->SetInt32(m.get(), type->field(1), 9);
  r->SetInt32(m.get(), type->field(2), 1);
  OutputOptions camel;
  camel.camel_case = true;
  EXPECT_EQ(Direct(*m, camel, kMaxReplyValues), "{\"a\":1,\"b\xef\xbf\xbd\":0,\"fooBar\":9}");
  EXPECT_EQ(Direct(*m, {}, kMaxReplyValues), R"({"a":1,"b":0,"fooBar":9,"foo_bar":[0,1,2,3,4]})");
  for (int bits = 0; bits < 32; ++bits) {
    for (int64_t budget = 0; budget <= 10; ++budget) {
      EXPECT_EQ(Direct(*m, Options(bits), budget), Tree(*m, Options(bits), budget))
          << "budget " << budget << ", options " << bits;
    }
  }
}

TEST(TranscodeTest, OnlyRepliesRenderedAsObjectsTakeTheDirectRender) {
  OutputOptions strings;
  strings.timestamps_as_strings = true;
  strings.durations_as_strings = true;
  EXPECT_NE(JsonLayout::Create(shop::Product::descriptor(), {}), nullptr);
  EXPECT_NE(JsonLayout::Create(google::protobuf::Timestamp::descriptor(), {}), nullptr);
  EXPECT_EQ(JsonLayout::Create(google::protobuf::Timestamp::descriptor(), strings), nullptr);
  EXPECT_EQ(JsonLayout::Create(google::protobuf::Duration::descriptor(), strings), nullptr);
  EXPECT_EQ(JsonLayout::Create(google::protobuf::Struct::descriptor(), {}), nullptr);
  EXPECT_EQ(JsonLayout::Create(google::protobuf::Value::descriptor(), {}), nullptr);
  EXPECT_EQ(JsonLayout::Create(google::protobuf::ListValue::descriptor(), {}), nullptr);
  EXPECT_EQ(JsonLayout::Create(google::protobuf::Int64Value::descriptor(), {}), nullptr);
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
