// JSON <-> protobuf by reflection (gateway/backend/grpc/transcode), on the generated classes of
// proto/shop (the same descriptors the catalog loads) and on well-known types. Exact JSON text:
// RenderJson is not involved, nlohmann's dump() sorts keys.

#include "gateway/backend/grpc/transcode.h"

#include <cmath>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "gateway/encoding/json.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "proto/shop/shop.pb.h"
#include "proto/wire/wire.pb.h"

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

// Wire bytes from a literal, NULs included.
template <size_t N>
std::string_view B(const char (&bytes)[N]) {
  return {bytes, N - 1};
}

// RenderWireJson of `bytes` as a `type` reply, "declined" when it leaves them to the parser.
std::string Wire(std::string_view bytes, const google::protobuf::Message& prototype,
                 OutputOptions o, int64_t budget = kMaxReplyValues) {
  auto layout = JsonLayout::Create(prototype.GetDescriptor(), o,
                                   prototype.GetReflection()->GetMessageFactory());
  if (layout == nullptr) return "no layout";
  std::string out = "kept|";
  if (!RenderWireJson(bytes, *layout, &out, budget)) {
    return out == "kept|" ? "declined" : "declined, but wrote " + out;
  }
  return out.substr(5);
}

// What the tree path answers for `bytes`: the parse, then MessageToJson and RenderJson.
std::string Parsed(std::string_view bytes, const google::protobuf::Message& prototype,
                   OutputOptions o, int64_t budget = kMaxReplyValues) {
  std::unique_ptr<google::protobuf::Message> m(prototype.New());
  if (!m->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return "invalid";
  return Tree(*m, o, budget);
}

// The property the backend relies on: whatever RenderWireJson writes, the tree path writes
// too (and the bytes parse).
void ExpectAgreement(std::string_view bytes, const google::protobuf::Message& prototype,
                     OutputOptions o, bool accepted, int64_t budget = kMaxReplyValues) {
  const std::string wire = Wire(bytes, prototype, o, budget);
  if (accepted) {
    EXPECT_EQ(wire, Parsed(bytes, prototype, o, budget))
        << absl::CEscape(absl::string_view(bytes.data(), bytes.size()));
  } else {
    EXPECT_EQ(wire, "declined") << absl::CEscape(absl::string_view(bytes.data(), bytes.size()));
  }
}

TEST(TranscodeTest, RenderWireJsonWritesWhatTheParsedReplyRendersUnderEveryOption) {
  shop::SearchReply reply = FullReply();
  reply.mutable_products(0)->mutable_dimensions()->set_height_cm(2.5);  // -0.0: below
  reply.mutable_products(1)->mutable_updated_at()->set_seconds(86400);
  const std::string bytes = reply.SerializeAsString();
  for (int bits = 0; bits < 32; ++bits) {
    const OutputOptions o = Options(bits);
    // Struct, Timestamp and Duration inside: parsed on their own where they print as strings.
    EXPECT_EQ(Wire(bytes, reply, o), Tree(reply, o, kMaxReplyValues)) << bits;
    EXPECT_EQ(Wire("", reply, o), Tree(shop::SearchReply(), o, kMaxReplyValues)) << bits;
  }
  // The budget: a reply over it is left to the parser's path, which reports it.
  for (int64_t budget = 0; budget <= 80; ++budget) {
    const std::string wire = Wire(bytes, reply, {}, budget);
    const std::string tree = Tree(reply, {}, budget);
    if (tree.rfind("error", 0) == 0) {
      EXPECT_EQ(wire, "declined") << budget;
    } else {
      EXPECT_EQ(wire, tree) << budget;
    }
  }
}

TEST(TranscodeTest, RenderWireJsonLeavesToTheParserWhatItMightReadOtherwise) {
  const shop::Product product;
  OutputOptions omit;
  omit.omit_unset = true;
  // id (field 1, varint) and name (field 2) are singular; price (6) and unavailable_reason
  // (7) share a oneof; dimensions (9) is a message whose width_cm (1) is a proto3 double.
  for (const std::string_view declined : {
           B("\x08\x01\x08\x02"),                      // a singular field twice
           B("\x32\x00\x3a\x01x"),                     // two members of a oneof
           B("\x09\x01\x02\x03\x04\x05\x06\x07\x08"),  // another wire type
           B("\x0b\x0c"),                              // a group
           B("\x12\x05"
             "ab"),                                            // cut short
           B("\x88\x80\x80\x80\x80\x00\x01"),                  // a tag of 6 bytes
           B("\x12\x01\xff"),                                  // a string not UTF-8
           B("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"),  // > 64 bits
       }) {
    ExpectAgreement(declined, product, {}, false);
  }
  // A Struct (labels, field 7 of SearchRequest) a zero tag ends early: parsed on its own it
  // would read as empty; inside the reply it makes the reply invalid.
  ExpectAgreement(B("\x3a\x04\x00\x1a\x00\x1a"), shop::SearchRequest(), {}, false);
  ExpectAgreement(B("\x3a\x00"), shop::SearchRequest(), {}, true);
  // A map key given twice: the parser keeps (and checks) every entry, here a value that is
  // not UTF-8 (metadata, field 2 of SearchReply; stock, field 5 of Product).
  ExpectAgreement(B("\x12\x06\x0a\x01"
                    "a\x12\x01\xff\x12\x06\x0a\x01"
                    "a\x12\x01"
                    "b"),
                  shop::SearchReply(), {}, false);
  ExpectAgreement(B("\x2a\x05\x0a\x01"
                    "a\x10\x01\x2a\x05\x0a\x01"
                    "a\x10\x02"),
                  product, {}, false);
  // A proto3 double zero given on the wire: whether -0.0 is "set" is the parser's business.
  const std::string negative_zero(B("\x4a\x09\x09\x00\x00\x00\x00\x00\x00\x00\x80"));
  ExpectAgreement(negative_zero, product, omit, false);
  ExpectAgreement(negative_zero, product, {}, true);
  for (const std::string_view accepted : {
           B("\x08\x07\xa0\x06\x01\xaa\x06\x02hi"),            // unknown fields skipped
           B("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),  // id -1
           B("\x18\x80\x80\x80\x80\x10"),                      // kind: 2^32, an int32 0
           B("\x18\x07"),                                      // kind 7: proto3 enums are open
           B("\x08\x00\x12\x00"),                              // zeros given: "unset" in proto3
           // stock (map 5): an entry without value, one without key
           B("\x2a\x03\x0a\x01"
             "b\x2a\x02\x10\x05"),
       }) {
    for (int bits : {0, 2, 16, 18}) ExpectAgreement(accepted, product, Options(bits), true);
  }
}

// proto/wire's W (proto2: closed enums, custom defaults, every scalar encoding, packed and
// unpacked repeated fields, maps with message values, a required field, an extension) as the
// backends' catalogs make messages: a DynamicMessage.
class Proto2Wire : public testing::Test {
 protected:
  google::protobuf::DynamicMessageFactory factory_;
  const google::protobuf::Message* prototype_ = factory_.GetPrototype(wire::W::descriptor());
};

TEST_F(Proto2Wire, EveryEncodingAgreesWithTheParsedReply) {
  for (const std::string_view accepted : {
           B(""),  // every default: -5, 1.5, true, Y, "dflt", "AXo="
           B("\x08\x80\x80\x80\x80\x10\x10\x03\x18\x04\x25\xff\xff\xff\xff"
             "\x29\xfe\xff\xff\xff\xff\xff\xff\xff\x35\x00\x00\xc0\x7f\x38\x02"
             "\x40\x01"),  // a: 2^32 -> 0, zigzags, fixed, NaN, g, h = X
           B("\x4a\x03\x01\x02\x03\x48\x04\x4a\x00"),  // packed, then not
           B("\x51\x00\x00\x00\x00\x00\x00\xf0\x7f\x52\x08"
             "\x00\x00\x00\x00\x00\x00\xf0\xbf"),  // Infinity, -1.0
           B("\x5a\x02\x01\x03\x58\x05"),          // packed sint32 also unpacked
           B("\x82\x01\x02\x01\x02\x80\x01\x01"),  // re: packed and not
           B("\x72\x05\x08\x03\x12\x01"
             "a\x72\x05\x08\x01\x12\x01"
             "b"
             "\x72\x02\x08\x02\x72\x00"),  // m: unsorted, one without value, one without key
           B("\x7a\x02\x08\x01\x7a\x06\x12\x04\x08\x03\x10\x01"),  // mw
           B("\x8a\x01\x05\x8a\x01\x02\x08\x07"),                  // sub: a sub inside a sub
           B("\x62\x00\x6a\x00"),  // s and by set empty: "" not the default
       }) {
    for (int bits : {0, 2, 16, 18}) ExpectAgreement(accepted, *prototype_, Options(bits), true);
  }
  for (const std::string_view declined : {
           B("\x40\x07"),                  // h: a closed enum's unknown value
           B("\x82\x01\x01\x09"),          // re: the same, packed
           B("\x72\x03\x18\x01\x00"),      // a map entry with another field
           B("\x4a\x02\x01\x80"),          // a packed varint cut short
           B("\x52\x04\x00\x00\x00\x00"),  // packed doubles: 4 bytes
           B("\x90\x01\x05"),              // nv: a proto3 enum, closed in this proto2 field
           B("\xa2\x06\x02\x08\x01"),      // the extension: the parser reads and checks it
           B("\xa2\x06\x01\x08"),          // ... and fails on this one
           B("\xa2\x01\x00"),              // req without its required field
           B("\x72\x03\x08\x01\x12\x72\x03\x08\x01\x12"),  // m: key 1 twice (cut short)
           B("\x72\x02\x08\x01\x72\x02\x08\x01"),          // m: key 1 twice: every entry counts
       }) {
    ExpectAgreement(declined, *prototype_, {}, false);
  }
  OutputOptions omit;
  omit.omit_unset = true;
  // An empty packed record holds no element: FieldSize 0, so omitted.
  ExpectAgreement(B("\x52\x00"), *prototype_, omit, true);
  EXPECT_EQ(Wire(B("\x52\x00"), *prototype_, omit), "{}");
  ExpectAgreement(B("\x52\x00\x51\x00\x00\x00\x00\x00\x00\xf0\x3f"), *prototype_, omit, true);
}

TEST_F(Proto2Wire, NestingThroughMapsCountsTheEntriesAsTheParserDoes) {
  // tree (map<string, W>) nested n deep: each level is an entry and a W, two for the parser,
  // which refuses more than 100.
  for (int n : {10, 30, 31, 49, 51}) {
    wire::W w;
    wire::W* at = &w;
    for (int i = 0; i < n; ++i) at = &(*at->mutable_tree())["k"];
    at->set_a(n);
    const std::string bytes = w.SerializeAsString();
    const std::string wire = Wire(bytes, *prototype_, {});
    if (wire != "declined") {
      EXPECT_EQ(wire, Parsed(bytes, *prototype_, {})) << n;
    }
    EXPECT_EQ(wire == "declined", 2 * n > 64) << n;  // the writer allows 64 levels
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
