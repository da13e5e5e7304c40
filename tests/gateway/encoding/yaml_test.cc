#include "gateway/encoding/yaml.h"

#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sluice::encoding {
namespace {

using Json = nlohmann::json;

std::string Yaml(const Json& v) {
  absl::StatusOr<std::string> out = RenderYaml(v);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : "";
}

TEST(RenderYamlTest, Structures) {
  struct Case {
    const char* json;
    const char* yaml;
  };
  for (const Case& c : std::vector<Case>{
           {R"({})", "{}\n"},
           {R"([])", "[]\n"},
           {R"(null)", "null\n"},
           {R"("top")", "top\n"},
           {R"({"b": 1, "a": "x"})", "a: x\nb: 1\n"},
           {R"({"a": {"b": [1, "x"]}, "c": null})", "a:\n  b:\n    - 1\n    - x\nc: null\n"},
           {R"({"e": {}, "l": [], "o": {"n": {}}})", "e: {}\nl: []\no:\n  \"n\": {}\n"},
           {R"([{"id": 1, "tags": ["a"]}, {"id": 2}])", "- id: 1\n  tags:\n    - a\n- id: 2\n"},
           {R"([[1, [2, 3]], [], {}])", "- - 1\n  - - 2\n    - 3\n- []\n- {}\n"},
           {R"({"items": [{"a": {"b": 1}, "c": [[]]}]})",
            "items:\n  - a:\n      b: 1\n    c:\n      - []\n"},
           {R"({"t": true, "f": false, "i": -12, "u": 18446744073709551615})",
            "f: false\ni: -12\nt: true\nu: 18446744073709551615\n"},
       }) {
    EXPECT_EQ(Yaml(Json::parse(c.json)), c.yaml) << c.json;
  }
}

TEST(RenderYamlTest, StringQuoting) {
  struct Case {
    std::string in;
    std::string out;
  };
  for (const Case& c : std::vector<Case>{
           // Plain: cannot be read as anything but this string.
           {"hello", "hello"},
           {"Hello world", "Hello world"},
           {"user_id", "user_id"},
           {"a-b.c/d (e)+f", "a-b.c/d (e)+f"},
           {"/path/x", "/path/x"},
           {"_x1", "_x1"},
           {"nullable", "nullable"},
           {"Yesterday", "Yesterday"},
           // Would parse as another type (YAML 1.1 or 1.2).
           {"", "\"\""},
           {"123", "\"123\""},
           {"1.5", "\"1.5\""},
           {"-1", "\"-1\""},
           {"+1", "\"+1\""},
           {".5", "\".5\""},
           {".inf", "\".inf\""},
           {"0x1F", "\"0x1F\""},
           {"1e3", "\"1e3\""},
           {"2024-01-02", "\"2024-01-02\""},
           {"12:30", "\"12:30\""},
           {"true", "\"true\""},
           {"False", "\"False\""},
           {"yes", "\"yes\""},
           {"NO", "\"NO\""},
           {"on", "\"on\""},
           {"Off", "\"Off\""},
           {"y", "\"y\""},
           {"N", "\"N\""},
           {"null", "\"null\""},
           {"NULL", "\"NULL\""},
           {"~", "\"~\""},
           // Would change the structure or be cut.
           {"a: b", "\"a: b\""},
           {"a #b", "\"a #b\""},
           {"- x", "\"- x\""},
           {"-", "\"-\""},
           {"? x", "\"? x\""},
           {"[x]", "\"[x]\""},
           {"{x}", "\"{x}\""},
           {"*ref", "\"*ref\""},
           {"&anchor", "\"&anchor\""},
           {"!tag", "\"!tag\""},
           {"|", "\"|\""},
           {">", "\">\""},
           {"%x", "\"%x\""},
           {"@x", "\"@x\""},
           {"`x", "\"`x\""},
           {"x,y", "\"x,y\""},
           {"=", "\"=\""},
           {"<<", "\"<<\""},
           {" lead", "\" lead\""},
           {"trail ", "\"trail \""},
           {"it's", "\"it's\""},
           // Escapes.
           {"say \"hi\"", "\"say \\\"hi\\\"\""},
           {"back\\slash", "\"back\\\\slash\""},
           {"two\nlines", "\"two\\nlines\""},
           {"tab\there", "\"tab\\there\""},
           {"cr\r", "\"cr\\r\""},
           {std::string("nul\0x", 5), "\"nul\\0x\""},
           {"bell\x07", "\"bell\\x07\""},
           {"del\x7F", "\"del\\x7f\""},
           {"\xC2\x85", "\"\\N\""},
           {"\xE2\x80\xA8\xE2\x80\xA9", "\"\\L\\P\""},
           {"\xC2\x9B", "\"\\u009b\""},
           {"\xEF\xBB\xBF"
            "bom",
            "\"\\ufeffbom\""},
           {"caf\xC3\xA9", "\"caf\xC3\xA9\""},
           {"\xF0\x9F\x98\x80", "\"\xF0\x9F\x98\x80\""},
           {"bad\xFF", "\"bad\xEF\xBF\xBD\""},
       }) {
    Json v = Json::object();
    v["k"] = c.in;
    EXPECT_EQ(Yaml(v), "k: " + c.out + "\n") << testing::PrintToString(c.in);
    // Keys follow the same rules.
    Json k = Json::object();
    k[c.in] = 1;
    EXPECT_EQ(Yaml(k), c.out + ": 1\n") << testing::PrintToString(c.in);
  }
}

TEST(RenderYamlTest, FloatsAlwaysReadAsFloats) {
  struct Case {
    double in;
    const char* out;
  };
  for (const Case& c : std::vector<Case>{
           {1.5, "1.5"},
           {-0.25, "-0.25"},
           {100.0, "100.0"},
           {1e300, "1.0e+300"},
           {-2.5e-10, "-2.5e-10"},
           {std::numeric_limits<double>::infinity(), ".inf"},
           {-std::numeric_limits<double>::infinity(), "-.inf"},
           {std::numeric_limits<double>::quiet_NaN(), ".nan"},
       }) {
    EXPECT_EQ(Yaml(Json{{"f", c.in}}), std::string("f: ") + c.out + "\n") << c.in;
  }
  // Big integers arrive from JSON as doubles.
  EXPECT_EQ(Yaml(Json::parse(R"({"n": 123456789012345678901234567890})")),
            "\"n\": 1.2345678901234568e+29\n");
}

TEST(RenderYamlTest, LongKeysUseTheExplicitForm) {
  const std::string key(1100, 'k');
  Json v = Json::object();
  v[key] = Json{{"a", 1}};
  v["short"] = 2;
  EXPECT_EQ(Yaml(v), "? " + key + "\n:\n  a: 1\nshort: 2\n");
  Json s = Json::object();
  s[key] = "v";
  EXPECT_EQ(Yaml(s), "? " + key + "\n: v\n");
}

TEST(RenderYamlTest, DepthIsLimited) {
  Json deep = Json::array();
  for (int i = 0; i < kMaxYamlRenderDepth + 5; ++i) {
    Json wrapper = Json::object();
    wrapper["k"] = std::move(deep);
    deep = std::move(wrapper);
  }
  absl::StatusOr<std::string> out = RenderYaml(deep);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice::encoding
