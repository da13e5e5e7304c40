#include "gateway/encoding/json.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::encoding {
namespace {

using Json = nlohmann::json;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// ----- DecodeJson -------------------------------------------------------------------------------

TEST(DecodeJsonTest, AnObjectDecodesAsIs) {
  absl::StatusOr<Json> v = DecodeJson(R"({"b": [1, 2], "a": {"x": null}, "s": "\u00e9"})", false);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, Json::parse(R"({"a": {"x": null}, "b": [1, 2], "s": "é"})"));
  absl::StatusOr<Json> empty = DecodeJson(" {} \n", false);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(*empty, Json::object());
}

TEST(DecodeJsonTest, AnArrayWithoutIsCollectionIsAnError) {
  absl::StatusOr<Json> v = DecodeJson("[1, 2]", false);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(v.status()).find("expected a JSON object, got array"), std::string::npos)
      << v.status();
  EXPECT_NE(Message(v.status()).find("is_collection"), std::string::npos) << v.status();
}

TEST(DecodeJsonTest, IsCollectionWrapsTheArrayUnderCollection) {
  absl::StatusOr<Json> v = DecodeJson(R"([{"id": 1}, {"id": 2}])", true);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, Json::parse(R"({"collection": [{"id": 1}, {"id": 2}]})"));
  absl::StatusOr<Json> empty = DecodeJson("[]", true);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(*empty, Json::parse(R"({"collection": []})"));
}

TEST(DecodeJsonTest, IsCollectionRejectsAnObject) {
  absl::StatusOr<Json> v = DecodeJson(R"({"a": 1})", true);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(v.status()).find("is_collection expects a JSON array, got object"),
            std::string::npos)
      << v.status();
}

TEST(DecodeJsonTest, InvalidJsonIsAnErrorNotAnException) {
  for (const char* body : {"", "   ", "{", "{\"a\": }", "[1, 2", "{\"a\": 1} trailing", "nul",
                           "{'a': 1}", "\xFF\xFE"}) {
    for (bool is_collection : {false, true}) {
      absl::StatusOr<Json> v = DecodeJson(body, is_collection);
      ASSERT_FALSE(v.ok()) << "\"" << body << "\"";
      EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(Message(v.status()), "body is not valid JSON") << "\"" << body << "\"";
    }
  }
}

// nlohmann's lexer takes a NUL byte for the end of the input; JSON has no raw NUL anywhere, and
// KrakenD (Go) rejects what follows one, so the body is invalid, not cut short.
TEST(DecodeJsonTest, ARawNulIsInvalidNotTheEnd) {
  const std::string bodies[] = {std::string("{\"a\":1}\0garbage", 15),
                                std::string("{\"a\":1}\0", 8), std::string("\0{}", 3)};
  for (const std::string& body : bodies) {
    absl::StatusOr<Json> v = DecodeJson(body, false);
    ASSERT_FALSE(v.ok()) << body;
    EXPECT_EQ(Message(v.status()), "body is not valid JSON");
    absl::StatusOr<Json> client = ParseClientJson(body);
    ASSERT_FALSE(client.ok());
    EXPECT_THAT(Message(client.status()), ::testing::HasSubstr("not valid JSON (syntax error"));
  }
  EXPECT_EQ(Message(ParseClientJson(bodies[0]).status()),
            "not valid JSON (syntax error at byte 8)");
  // Escaped, a NUL is an ordinary character.
  absl::StatusOr<Json> escaped = DecodeJson(R"({"a":"x\u0000y"})", false);
  ASSERT_TRUE(escaped.ok()) << escaped.status();
  EXPECT_EQ((*escaped)["a"].get<std::string>(), std::string("x\0y", 3));
}

TEST(DecodeJsonTest, ScalarsAreRejectedNamingTheirType) {
  struct Case {
    const char* body;
    const char* type;
  };
  for (const Case& c : {Case{"42", "number"}, Case{"1.5", "number"}, Case{"\"text\"", "string"},
                        Case{"true", "boolean"}, Case{"null", "null"}}) {
    absl::StatusOr<Json> v = DecodeJson(c.body, false);
    ASSERT_FALSE(v.ok()) << c.body;
    EXPECT_NE(Message(v.status()).find(std::string("got ") + c.type), std::string::npos)
        << c.body << ": " << v.status();
    absl::StatusOr<Json> coll = DecodeJson(c.body, true);
    ASSERT_FALSE(coll.ok()) << c.body;
    EXPECT_NE(Message(coll.status()).find(std::string("got ") + c.type), std::string::npos)
        << c.body << ": " << coll.status();
  }
}

// ----- ParseClientJson --------------------------------------------------------------------------

TEST(ParseClientJsonTest, ParsesAnyValueAsNlohmannDoes) {
  for (const char* body :
       {R"({"a":[1,2.5,"x",null,true,{"b":{}}]})", "[]", "3", "\"s\"", " null "}) {
    absl::StatusOr<Json> v = ParseClientJson(body);
    ASSERT_TRUE(v.ok()) << body << ": " << v.status();
    EXPECT_EQ(*v, Json::parse(body)) << body;
  }
}

TEST(ParseClientJsonTest, SyntaxErrorsAreErrorsNotExceptions) {
  for (const char* body : {"", "{", "[1,]", "{\"a\" 1}", "[1] x", "\"\xff"}) {
    absl::StatusOr<Json> v;
    ASSERT_NO_THROW(v = ParseClientJson(body)) << body;
    EXPECT_FALSE(v.ok()) << body;
    EXPECT_THAT(std::string(v.status().message()), ::testing::HasSubstr("not valid JSON")) << body;
  }
}

TEST(ParseClientJsonTest, DepthIsBoundedWhileParsing) {
  const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(ParseClientJson(ok).ok());
  const std::string deep =
      std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
  EXPECT_EQ(Message(ParseClientJson(deep).status()), "nests deeper than 1000 levels");
  // 10 MiB of '[' (the attack that held a worker for 2.4 s): refused at level 1001, at once.
  const std::string flood(10 << 20, '[');
  EXPECT_EQ(Message(ParseClientJson(flood).status()), "nests deeper than 1000 levels");
  // Objects count too.
  std::string objects;
  for (int i = 0; i <= kMaxJsonDepth; ++i) objects += "{\"a\":";
  EXPECT_EQ(Message(ParseClientJson(objects + "1").status()), "nests deeper than 1000 levels");
}

TEST(ParseClientJsonTest, ValueCountIsBoundedWhileParsing) {
  // 3 values: the array and its two members.
  EXPECT_TRUE(ParseClientJson("[1,2]", 3).ok());
  EXPECT_EQ(Message(ParseClientJson("[1,2,3]", 3).status()), "holds more than 3 JSON values");
  EXPECT_EQ(Message(ParseClientJson(R"({"a":1,"b":{}})", 2).status()),
            "holds more than 2 JSON values");
  // The default: 10 MiB of empty arrays (~3.5 million values) is refused.
  std::string many = "[";
  while (many.size() < (10u << 20)) many += "[],";
  many += "[]]";
  EXPECT_EQ(Message(ParseClientJson(many).status()), "holds more than 1000000 JSON values");
}

// ----- RenderJson -------------------------------------------------------------------------------

TEST(RenderJsonTest, CompactWithSortedKeys) {
  Json v = Json::parse(R"({"zeta": 1, "alpha": {"y": [1, "two", null], "b": true}, "mid": 2.5})");
  EXPECT_EQ(RenderJson(v), R"({"alpha":{"b":true,"y":[1,"two",null]},"mid":2.5,"zeta":1})");
  EXPECT_EQ(RenderJson(Json::object()), "{}");
  EXPECT_EQ(RenderJson(Json::array()), "[]");
}

TEST(RenderJsonTest, EscapesControlCharactersAndKeepsValidUtf8) {
  Json v = {{"s", "a\"b\\c\n\t\x01"}, {"u", "\xC3\xA9\xE2\x82\xAC"}};
  EXPECT_EQ(RenderJson(v), "{\"s\":\"a\\\"b\\\\c\\n\\t\\u0001\",\"u\":\"\xC3\xA9\xE2\x82\xAC\"}");
}

TEST(RenderJsonTest, InvalidUtf8IsReplacedInsteadOfThrowing) {
  // A backend read with `string` encoding can hand over any bytes.
  Json v = {{"bad", "ok\xFFok"}, {"truncated", "\xC3"}, {"key\xFE", 1}};
  std::string out;
  ASSERT_NO_THROW(out = RenderJson(v));
  // U+FFFD REPLACEMENT CHARACTER, in UTF-8.
  EXPECT_EQ(out,
            "{\"bad\":\"ok\xEF\xBF\xBDok\",\"key\xEF\xBF\xBD\":1,\"truncated\":\"\xEF\xBF\xBD\"}");
  // The output is valid JSON again.
  Json round = Json::parse(out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(round.is_discarded()) << out;
}

TEST(RenderJsonTest, RoundTripsADecodedBody) {
  const std::string body = R"({"b":[{"y":2,"x":1}],"a":"v"})";
  absl::StatusOr<Json> v = DecodeJson(body, false);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(RenderJson(*v), R"({"a":"v","b":[{"x":1,"y":2}]})");
}

// ----- RenderJsonObjectDirect -------------------------------------------------------------------

// What the tree renders: DecodeJson, then RenderJson.
std::string ThroughTheTree(const std::string& body) {
  absl::StatusOr<Json> v = DecodeJson(body, false);
  return v.ok() ? RenderJson(*v) : "error: " + Message(v.status());
}

TEST(RenderJsonObjectDirectTest, RendersWhatTheTreeRenders) {
  const std::string bodies[] = {
      R"({"zeta": 1, "alpha": {"y": [1, "two", null], "b": true}, "mid": 2.5})",
      " {}\n",
      R"({"a":[],"b":{},"c":[[],[{}]],"d":[{"z":1,"a":2}]})",
      // Numbers as nlohmann keeps them: -0 is the integer 0, -0.0 a double; past 64 bits an
      // integer is a double; doubles in their shortest form.
      R"({"n":[0,-0,-0.0,1.0,1e21,1E-7,2.5e+3,98.6,0.1,123456789012345678,-9223372036854775808,
      18446744073709551615,18446744073709551616,-9223372036854775809,1e-300,5e-324]})",
      // Escapes resolved, then written as nlohmann writes them: / and é plain, controls \u00xx.
      R"({"s":"q\" b\\ s\/ \b\f\n\r\t \u0001 \u001F \u007f \u00e9 \u20AC \ud83d\ude00 \u0000"})",
      "{\"raw\":\"\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \x7F\"}",
      // Keys sorted by their bytes once decoded: \u0041 is "A", sorted before "a" and "é".
      "{\"\xC3\xA9\":1,\"a\":2,\"\\u0041\":3,\"\":4,\"a\\u0000\":5}",
      R"({"t":true,"f":false,"z":null})",
  };
  for (const std::string& body : bodies) {
    std::string direct;
    EXPECT_TRUE(RenderJsonObjectDirect(body, &direct)) << body;
    EXPECT_EQ(direct, ThroughTheTree(body)) << body;
  }
  std::string out;
  ASSERT_TRUE(RenderJsonObjectDirect(bodies[0], &out));
  EXPECT_EQ(out, R"({"alpha":{"b":true,"y":[1,"two",null]},"mid":2.5,"zeta":1})");
}

// Strings are scanned 8 bytes at a time: whatever a string holds is found at any offset, in a
// key or a value, whether it falls at the start, inside or at the end of an 8-byte word.
TEST(RenderJsonObjectDirectTest, FindsWhatAStringHoldsAtAnyOffset) {
  const std::string rendered[] = {"\\\"",
                                  "\\\\",
                                  "\\n",
                                  "\\u0001",
                                  "\\u00e9",
                                  "\\ud83d\\ude00",
                                  "\xC3\xA9",
                                  "\xE2\x82\xAC",
                                  "\xF0\x9F\x98\x80",
                                  "\x7F",
                                  "/"};
  const std::string declined[] = {"\x01", "\x1F", "\xC0\xAF", "\xED\xA0\x80", "\xFF", "\\x"};
  for (size_t offset = 0; offset < 18; ++offset) {
    const std::string pad(offset, 'p');
    for (const std::string& piece : rendered) {
      const std::string inner = pad + piece + pad;
      for (const std::string& body :
           {"{\"k\":\"" + inner + "\",\"a\":\"" + inner + "\"}",
            "{\"" + inner + "\":[\"" + inner + "\"],\"" + pad + "\":0}"}) {
        std::string direct;
        EXPECT_TRUE(RenderJsonObjectDirect(body, &direct)) << body;
        EXPECT_EQ(direct, ThroughTheTree(body)) << body;
      }
    }
    for (const std::string& piece : declined) {
      for (const std::string& body :
           {"{\"k\":\"" + pad + piece + pad + "\"}", "{\"" + pad + piece + "\":1}"}) {
        std::string out;
        EXPECT_FALSE(RenderJsonObjectDirect(body, &out)) << body << " -> " << out;
      }
    }
    // Cut short right after the string's last byte, or inside a multi-byte character.
    std::string out;
    EXPECT_FALSE(RenderJsonObjectDirect("{\"k\":\"" + pad, &out)) << offset;
    EXPECT_FALSE(RenderJsonObjectDirect("{\"k\":\"" + pad + "\xE2\x82", &out)) << offset;
  }
}

// Keys are ordered by their first 8 bytes first: keys that share them, or are a prefix of
// another, are still ordered (and told apart) by all their bytes.
TEST(RenderJsonObjectDirectTest, OrdersKeysThatShareTheirFirstEightBytes) {
  const std::string body =
      R"({"abcdefgh1":1,"abcdefgh":2,"abcdefgh0":3,"abcdefg":4,"abcdefgh\u0000":5,"b":6,"":7})";
  std::string direct;
  ASSERT_TRUE(RenderJsonObjectDirect(body, &direct));
  EXPECT_EQ(direct, ThroughTheTree(body));
  EXPECT_EQ(
      direct,
      R"({"":7,"abcdefg":4,"abcdefgh":2,"abcdefgh\u0000":5,"abcdefgh0":3,"abcdefgh1":1,"b":6})");
  // Equal past the first 8 bytes: a duplicate, which the tree decides.
  EXPECT_FALSE(
      RenderJsonObjectDirect(R"({"abcdefghij":1,"abcdefghik":2,"abcdefghij":3})", &direct));
}

TEST(RenderJsonObjectDirectTest, LeavesToTheTreeWhatItCannotRenderTheSame) {
  std::string deep = "{\"a\":";
  for (int i = 0; i < 70; ++i) deep += "[";
  for (int i = 0; i < 70; ++i) deep += "]";
  deep += "}";
  const std::string bodies[] = {
      R"({"a":1,"a":2})",        // duplicate keys: the tree keeps the last
      R"({"a":{"k":1,"k":2}})",  // ... at any depth
      deep,                      // deeper than the direct pass goes (the tree allows it)
      "[1,2]",
      "\"s\"",
      "1",
      "",                // not an object
      "\xEF\xBB\xBF{}",  // a byte order mark
      R"({"a":1} x)",
      R"({"a":1,})",  // not JSON
      R"({"a":01})",
      R"({"a":1.})",
      R"({"a":.5})",
      R"({"a":+1})",
      R"({"a":-})",
      R"({"a":1e400})",
      R"({"a":1e-400})",  // out of a double's range
      R"({"a":tru})",
      R"({"a":nul})",
      R"({"a":"\x"})",
      R"({"a":"\u12"})",
      R"({"a":"\ud800"})",
      R"({"a":"\udc00"})",
      R"({"a":"\ud800\u0041"})",
      "{\"a\":\"\x01\"}",              // a raw control character
      "{\"a\":\"\xC0\xAF\"}",          // an overlong form
      "{\"a\":\"\xED\xA0\x80\"}",      // a surrogate
      "{\"a\":\"\xF4\x90\x80\x80\"}",  // past U+10FFFF
      "{\"a\":\"\xC3\"}",              // cut short
      "{\"a\":\"unterminated",
  };
  for (const std::string& body : bodies) {
    std::string out;
    EXPECT_FALSE(RenderJsonObjectDirect(body, &out)) << body << " -> " << out;
  }
  // Bulk nested deep: each object level would copy it once more, so past 8 copies the tree
  // takes it (same answer); the same bulk a few levels down stays direct.
  const std::string bulk = "\"" + std::string(100 << 10, 'x') + "\"";
  std::string deep_bulk = bulk, shallow_bulk = bulk;
  for (int i = 0; i < 40; ++i) deep_bulk = "{\"k\":" + deep_bulk + "}";
  for (int i = 0; i < 5; ++i) shallow_bulk = "{\"k\":" + shallow_bulk + "}";
  std::string rendered;
  EXPECT_FALSE(RenderJsonObjectDirect(deep_bulk, &rendered));
  EXPECT_EQ(ThroughTheTree(deep_bulk), deep_bulk);
  EXPECT_TRUE(RenderJsonObjectDirect(shallow_bulk, &rendered));
  EXPECT_EQ(rendered, shallow_bulk);
  // Over 1 MiB: the tree's (each object level of the direct pass copies its members again).
  const std::string big = "{\"a\":\"" + std::string(1 << 20, 'x') + "\"}";
  std::string out;
  EXPECT_FALSE(RenderJsonObjectDirect(big, &out));
  EXPECT_TRUE(RenderJsonObjectDirect(big.substr(0, 1000) + "\"}", &out));
  EXPECT_EQ(ThroughTheTree(R"({"a":1,"a":2})"), R"({"a":2})");
  EXPECT_EQ(ThroughTheTree(deep), deep);
}

}  // namespace
}  // namespace sluice::encoding
