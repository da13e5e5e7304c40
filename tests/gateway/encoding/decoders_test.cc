#include "gateway/encoding/decoders.h"

#include <string>
#include <vector>

#include "gateway/encoding/json.h"
#include "gtest/gtest.h"

namespace sluice::encoding {
namespace {

using config::BackendEncoding;
using Json = nlohmann::json;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

Json MustDecode(BackendEncoding e, std::string_view body, bool is_collection) {
  absl::StatusOr<Json> v = Decode(e, body, is_collection);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : Json();
}

TEST(DecodeTest, JsonIsDecodeJson) {
  EXPECT_EQ(MustDecode(BackendEncoding::kJson, R"({"a": [1]})", false),
            Json::parse(R"({"a": [1]})"));
  EXPECT_EQ(MustDecode(BackendEncoding::kJson, R"([1, 2])", true),
            Json::parse(R"({"collection": [1, 2]})"));
  EXPECT_EQ(Message(Decode(BackendEncoding::kJson, "[1]", false).status()),
            "expected a JSON object, got array (set is_collection for arrays)");
  EXPECT_EQ(Message(Decode(BackendEncoding::kJson, "{", false).status()), "body is not valid JSON");
}

TEST(DecodeTest, SafeJsonAcceptsAnyValue) {
  struct Case {
    const char* body;
    const char* json;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"a": 1})", R"({"a": 1})"},
           {R"([1, {"b": 2}])", R"({"collection": [1, {"b": 2}]})"},
           {R"([])", R"({"collection": []})"},
           {R"("text")", R"({"content": "text"})"},
           {R"(42)", R"({"content": 42})"},
           {R"(-1.5)", R"({"content": -1.5})"},
           {R"(true)", R"({"content": true})"},
           {R"(null)", R"({"content": null})"},
       }) {
    for (bool is_collection : {false, true}) {  // ignored, as in Lura
      EXPECT_EQ(MustDecode(BackendEncoding::kSafeJson, c.body, is_collection), Json::parse(c.json))
          << c.body;
    }
  }
  for (const char* bad : {"", "{", "[1,]", "nul", "{} {}", "'a'"}) {
    absl::StatusOr<Json> v = Decode(BackendEncoding::kSafeJson, bad, false);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(Message(v.status()), "body is not valid JSON");
  }
}

TEST(DecodeTest, StringWrapsTheBytes) {
  EXPECT_EQ(MustDecode(BackendEncoding::kString, "hello\n", false),
            Json::parse(R"({"content": "hello\n"})"));
  EXPECT_EQ(MustDecode(BackendEncoding::kString, "", true), Json::parse(R"({"content": ""})"));
  EXPECT_EQ(MustDecode(BackendEncoding::kString, R"({"not": "parsed"})", false),
            Json::parse(R"({"content": "{\"not\": \"parsed\"}"})"));
  // Bytes are kept as they came; the JSON renderer replaces invalid UTF-8 on the way out.
  Json raw = MustDecode(BackendEncoding::kString, std::string("a\xFF\0b", 4), false);
  EXPECT_EQ(raw["content"].get<std::string>(), std::string("a\xFF\0b", 4));
  EXPECT_EQ(RenderJson(raw), "{\"content\":\"a\xEF\xBF\xBD\\u0000b\"}");
}

TEST(DecodeTest, XmlAndRss) {
  for (BackendEncoding e : {BackendEncoding::kXml, BackendEncoding::kRss}) {
    EXPECT_EQ(MustDecode(e, R"(<a id="1"><b>x</b></a>)", false),
              Json::parse(R"({"a": {"-id": "1", "b": "x"}})"));
    EXPECT_EQ(MustDecode(e, R"(<list><i>1</i><i>2</i></list>)", true),
              Json::parse(R"({"collection": {"list": {"i": ["1", "2"]}}})"));
    absl::StatusOr<Json> bad = Decode(e, "<a>", false);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(DecodeTest, NoOpIsNotDecoded) {
  absl::StatusOr<Json> v = Decode(BackendEncoding::kNoOp, "{}", false);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
}

// ----- Hostile bodies -------------------------------------------------------------------------

std::string Nested(int depth, char open, char close) {
  return std::string(static_cast<size_t>(depth), open) +
         std::string(static_cast<size_t>(depth), close);
}

TEST(DecodeHostileTest, DeepNestingIsRefusedNotACrash) {
  // One million levels would overflow the stack inside nlohmann's parser.
  const std::string arrays = Nested(1000000, '[', ']');
  std::string objects;
  for (int i = 0; i < 200000; ++i) objects += R"({"a":)";
  objects += "1" + std::string(200000, '}');
  for (BackendEncoding e : {BackendEncoding::kJson, BackendEncoding::kSafeJson}) {
    for (const std::string& body : {arrays, objects}) {
      for (bool is_collection : {false, true}) {
        absl::StatusOr<Json> v = Decode(e, body, is_collection);
        ASSERT_FALSE(v.ok());
        EXPECT_EQ(Message(v.status()), "JSON nests deeper than 1000 levels");
      }
    }
  }
  // At the limit it decodes.
  EXPECT_TRUE(Decode(BackendEncoding::kJson, Nested(kMaxJsonDepth, '[', ']'), true).ok());
  EXPECT_FALSE(Decode(BackendEncoding::kJson, Nested(kMaxJsonDepth + 1, '[', ']'), true).ok());
}

TEST(DecodeHostileTest, DepthCheckSkipsStrings) {
  // Brackets inside strings, and escaped quotes, do not count.
  const std::string in_string =
      "{\"a\": \"" + std::string(5000, '[') + "\\\"" + std::string(5000, '{') + "\"}";
  EXPECT_TRUE(Decode(BackendEncoding::kJson, in_string, false).ok());
  EXPECT_TRUE(Decode(BackendEncoding::kJson, R"(["[[[", "\\", "]"])", true).ok());
  // A string full of brackets at the depth limit: only the real levels count.
  EXPECT_TRUE(Decode(BackendEncoding::kJson,
                     Nested(kMaxJsonDepth - 1, '[', ']').insert(kMaxJsonDepth - 1, "[\"[[[\"]"),
                     true)
                  .ok());
}

TEST(DecodeHostileTest, HugeNumbers) {
  // Beyond uint64: nlohmann keeps a double (Go's UseNumber would keep the digits).
  EXPECT_EQ(
      MustDecode(BackendEncoding::kJson, R"({"n": 123456789012345678901234567890})", false)["n"],
      Json(1.2345678901234568e+29));
  EXPECT_EQ(MustDecode(BackendEncoding::kJson, R"({"n": 18446744073709551615})", false)["n"],
            Json(18446744073709551615u));
  // Out of double range: refused (KrakenD would pass the digits through).
  EXPECT_FALSE(Decode(BackendEncoding::kJson, R"({"n": 1e400})", false).ok());
  EXPECT_FALSE(Decode(BackendEncoding::kSafeJson, "-1e400", false).ok());
  // A number with a million digits: decoded as a double, no crash, no hang.
  const std::string digits(1000000, '7');
  absl::StatusOr<Json> long_int = Decode(BackendEncoding::kSafeJson, "0." + digits, false);
  ASSERT_TRUE(long_int.ok());
  EXPECT_TRUE((*long_int)["content"].is_number_float());
}

TEST(DecodeHostileTest, InvalidUtf8InJsonIsRejected) {
  for (const char* body : {"{\"a\": \"\xFF\"}", "{\"\xC0\xAF\": 1}", "{\"a\": \"\xED\xA0\x80\"}"}) {
    EXPECT_FALSE(Decode(BackendEncoding::kJson, body, false).ok());
    EXPECT_FALSE(Decode(BackendEncoding::kSafeJson, body, false).ok());
  }
  // Escaped lone surrogates are not valid either.
  EXPECT_FALSE(Decode(BackendEncoding::kJson, R"({"a": "\ud800"})", false).ok());
}

TEST(DecodeHostileTest, XmlEntityAttacksAreRefused) {
  for (const char* body : {
           R"(<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><x>&b;</x>)",
           R"(<!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1/">]><x>&e;</x>)",
           R"(<x>&e;</x>)",
       }) {
    for (BackendEncoding e : {BackendEncoding::kXml, BackendEncoding::kRss}) {
      absl::StatusOr<Json> v = Decode(e, body, false);
      ASSERT_FALSE(v.ok()) << body;
      EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(DecodeHostileTest, GarbageNeverCrashes) {
  // Deterministic pseudo-random bytes through every decoder.
  uint32_t state = 12345;
  for (int round = 0; round < 2000; ++round) {
    std::string body;
    const size_t size = state % 64;
    for (size_t i = 0; i < size; ++i) {
      state = state * 1664525u + 1013904223u;
      const char alphabet[] = "<>/=\"'&;#x!-[]{}:,.0123456789abc \n\xC3\xA9\xFF";
      body.push_back(alphabet[(state >> 16) % (sizeof(alphabet) - 1)]);
    }
    state = state * 1664525u + 1013904223u;
    for (BackendEncoding e : {BackendEncoding::kJson, BackendEncoding::kSafeJson,
                              BackendEncoding::kString, BackendEncoding::kXml}) {
      (void)Decode(e, body, round % 2 == 0);
    }
  }
}

}  // namespace
}  // namespace sluice::encoding
