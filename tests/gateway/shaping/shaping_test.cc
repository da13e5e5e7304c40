#include "gateway/shaping/shaping.h"

#include <functional>
#include <string>
#include <vector>

#include "gateway/components/proxy/config.h"
#include "gtest/gtest.h"

namespace sluice::shaping {
namespace {

using Json = nlohmann::json;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

config::Backend MakeBackend(const std::function<void(config::Backend&)>& setup) {
  config::Backend b;
  b.json_path = "endpoints[0].backend[1]";
  if (setup) setup(b);
  // As the loader does: the proxy component parses extra_config.proxy (flatmap_filter).
  if (auto proxy = b.extra_config.find("proxy"); proxy != b.extra_config.end()) {
    config::Diagnostics diagnostics;
    config::ObjectReader reader(*proxy, b.json_path + ".extra_config.proxy", &diagnostics);
    b.components.Add("proxy", components::proxy::ParseBackend(reader));
    for (const config::Diagnostic& d : diagnostics.errors) {
      ADD_FAILURE() << d.path << ": " << d.message;
    }
  }
  return b;
}

Json Shape(const config::Backend& backend, const char* input) {
  absl::StatusOr<BackendShaper> shaper = BackendShaper::Create(backend);
  EXPECT_TRUE(shaper.ok()) << shaper.status();
  Json value = Json::parse(input);
  if (shaper.ok()) shaper->Apply(value);
  return value;
}

struct Case {
  const char* name;
  std::function<void(config::Backend&)> setup;
  const char* input;
  const char* expected;
};

// Every key alone, then combined; inputs are what the decoders produce.
const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>{
      {"nothing configured", nullptr, R"({"a": 1, "b": {"c": [1]}})",
       R"({"a": 1, "b": {"c": [1]}})"},

      // target
      {"target top-level object", [](config::Backend& b) { b.target = "data"; },
       R"({"data": {"id": 1}, "meta": 2})", R"({"id": 1})"},
      {"target nested", [](config::Backend& b) { b.target = "a.b"; },
       R"({"a": {"b": {"x": 1}, "c": 2}})", R"({"x": 1})"},
      {"target missing gives {}", [](config::Backend& b) { b.target = "nope"; }, R"({"a": 1})",
       R"({})"},
      {"target array gives {}", [](config::Backend& b) { b.target = "items"; },
       R"({"items": [1, 2]})", R"({})"},
      {"target scalar gives {}", [](config::Backend& b) { b.target = "a"; }, R"({"a": "x"})",
       R"({})"},
      {"target through a scalar gives {}", [](config::Backend& b) { b.target = "a.b"; },
       R"({"a": 1})", R"({})"},
      {"target missing second segment", [](config::Backend& b) { b.target = "a.b"; },
       R"({"a": {"c": 1}})", R"({})"},

      // allow
      {"allow top-level",
       [](config::Backend& b) {
         b.allow = {"a", "c"};
       },
       R"({"a": 1, "b": 2, "c": {"d": 3}})", R"({"a": 1, "c": {"d": 3}})"},
      {"allow nested keeps only listed members",
       [](config::Backend& b) {
         b.allow = {"user.name", "id"};
       },
       R"({"id": 7, "user": {"name": "ann", "email": "a@x"}, "x": 1})",
       R"({"id": 7, "user": {"name": "ann"}})"},
      {"allow deep", [](config::Backend& b) { b.allow = {"a.b.c"}; },
       R"({"a": {"b": {"c": 1, "d": 2}, "e": 3}})", R"({"a": {"b": {"c": 1}}})"},
      {"allow through a scalar drops it",
       [](config::Backend& b) {
         b.allow = {"a.b", "z"};
       },
       R"({"a": 1, "z": 0})", R"({"z": 0})"},
      {"allow drops an object left empty",
       [](config::Backend& b) {
         b.allow = {"a.x", "z"};
       },
       R"({"a": {"y": 1}, "z": 0})", R"({"z": 0})"},
      {"allow keeps a listed empty object", [](config::Backend& b) { b.allow = {"a"}; },
       R"({"a": {}, "b": 1})", R"({"a": {}})"},
      {"allow broader path wins (short first)",
       [](config::Backend& b) {
         b.allow = {"a", "a.b"};
       },
       R"({"a": {"b": 1, "c": 2}})", R"({"a": {"b": 1, "c": 2}})"},
      {"allow broader path wins (long first)",
       [](config::Backend& b) {
         b.allow = {"a.b", "a"};
       },
       R"({"a": {"b": 1, "c": 2}})", R"({"a": {"b": 1, "c": 2}})"},
      {"allow nothing matching gives {}", [](config::Backend& b) { b.allow = {"q"}; },
       R"({"a": 1})", R"({})"},
      {"allow does not step into arrays",
       [](config::Backend& b) {
         b.allow = {"items.id", "n"};
       },
       R"({"items": [{"id": 1, "x": 2}], "n": 1})", R"({"n": 1})"},
      {"allow keeps null and false values",
       [](config::Backend& b) {
         b.allow = {"a", "b"};
       },
       R"({"a": null, "b": false, "c": 0})", R"({"a": null, "b": false})"},

      // deny
      {"deny top-level",
       [](config::Backend& b) {
         b.deny = {"secret", "missing"};
       },
       R"({"secret": 1, "id": 2})", R"({"id": 2})"},
      {"deny nested", [](config::Backend& b) { b.deny = {"user.email"}; },
       R"({"user": {"name": "ann", "email": "a@x"}, "id": 1})",
       R"({"user": {"name": "ann"}, "id": 1})"},
      {"deny keeps an emptied object", [](config::Backend& b) { b.deny = {"a.b"}; },
       R"({"a": {"b": 1}, "c": 2})", R"({"a": {}, "c": 2})"},
      {"deny deep",
       [](config::Backend& b) {
         b.deny = {"a.b.c", "a.b.d"};
       },
       R"({"a": {"b": {"c": 1, "d": 2, "e": 3}}})", R"({"a": {"b": {"e": 3}}})"},
      {"deny broader path wins",
       [](config::Backend& b) {
         b.deny = {"a", "a.b"};
       },
       R"({"a": {"b": 1, "c": 2}, "d": 3})", R"({"d": 3})"},
      {"deny through a scalar is a no-op", [](config::Backend& b) { b.deny = {"a.b"}; },
       R"({"a": 1})", R"({"a": 1})"},
      {"deny does not step into arrays", [](config::Backend& b) { b.deny = {"items.id"}; },
       R"({"items": [{"id": 1}]})", R"({"items": [{"id": 1}]})"},
      {"allow wins over deny",
       [](config::Backend& b) {
         b.allow = {"a", "b"};
         b.deny = {"a"};
       },
       R"({"a": 1, "b": 2, "c": 3})", R"({"a": 1, "b": 2})"},

      // mapping
      {"mapping renames",
       [](config::Backend& b) {
         b.mapping = {{"a", "x"}, {"missing", "y"}};
       },
       R"({"a": 1, "b": 2})", R"({"x": 1, "b": 2})"},
      {"mapping overwrites an existing key",
       [](config::Backend& b) {
         b.mapping = {{"a", "b"}};
       },
       R"({"a": 1, "b": 2})", R"({"b": 1})"},
      {"mapping swaps",
       [](config::Backend& b) {
         b.mapping = {{"a", "b"}, {"b", "a"}};
       },
       R"({"a": 1, "b": 2})", R"({"a": 2, "b": 1})"},
      {"mapping does not cascade",
       [](config::Backend& b) {
         b.mapping = {{"a", "b"}, {"b", "c"}};
       },
       R"({"a": 1, "b": 2})", R"({"b": 1, "c": 2})"},
      {"mapping to one name: last original name wins",
       [](config::Backend& b) {
         b.mapping = {{"a", "z"}, {"b", "z"}};
       },
       R"({"a": 1, "b": 2})", R"({"z": 2})"},
      {"mapping target is cut at its first dot",
       [](config::Backend& b) {
         b.mapping = {{"a", "x.y"}};
       },
       R"({"a": 1})", R"({"x": 1})"},
      {"mapping renames only top-level keys",
       [](config::Backend& b) {
         b.mapping = {{"b", "c"}};
       },
       R"({"a": {"b": 1}})", R"({"a": {"b": 1}})"},

      // group
      {"group wraps", [](config::Backend& b) { b.group = "g"; }, R"({"a": 1})",
       R"({"g": {"a": 1}})"},
      {"group wraps an empty result",
       [](config::Backend& b) {
         b.target = "nope";
         b.group = "g";
       },
       R"({"a": 1})", R"({"g": {}})"},

      // combined, in KrakenD's order
      {"target then allow then mapping then group",
       [](config::Backend& b) {
         b.target = "data";
         b.allow = {"id", "profile.name"};
         b.mapping = {{"id", "user_id"}};
         b.group = "user";
       },
       R"({"data": {"id": 1, "pw": "x", "profile": {"name": "n", "age": 3}}, "meta": {}})",
       R"({"user": {"user_id": 1, "profile": {"name": "n"}}})"},
      {"deny then mapping then group",
       [](config::Backend& b) {
         b.deny = {"pw", "profile.age"};
         b.mapping = {{"profile", "p"}};
         b.group = "g";
       },
       R"({"id": 1, "pw": "x", "profile": {"name": "n", "age": 3}})",
       R"({"g": {"id": 1, "p": {"name": "n"}}})"},
      {"allow sees the original names, not the mapped ones",
       [](config::Backend& b) {
         b.allow = {"a"};
         b.mapping = {{"a", "b"}};
       },
       R"({"a": 1, "b": 2})", R"({"b": 1})"},
      {"allow before mapping drops what mapping would rename",
       [](config::Backend& b) {
         b.allow = {"b"};
         b.mapping = {{"a", "b"}};
       },
       R"({"a": 1, "b": 2})", R"({"b": 2})"},
      {"target is relative to the root, allow to the target",
       [](config::Backend& b) {
         b.target = "data";
         b.allow = {"data"};
       },
       R"({"data": {"data": 1, "x": 2}})", R"({"data": 1})"},
      {"is_collection: mapping and group on the wrapped array",
       [](config::Backend& b) {
         b.is_collection = true;
         b.mapping = {{"collection", "items"}};
         b.group = "g";
       },
       R"({"collection": [{"id": 1}, {"id": 2}]})", R"({"g": {"items": [{"id": 1}, {"id": 2}]}})"},
      {"is_collection: allow applies to the wrapper",
       [](config::Backend& b) {
         b.is_collection = true;
         b.allow = {"collection"};
       },
       R"({"collection": [1]})", R"({"collection": [1]})"},
      {"is_collection: target of the array gives {}",
       [](config::Backend& b) {
         b.is_collection = true;
         b.target = "collection";
       },
       R"({"collection": [1]})", R"({})"},

      // flatmap_filter replaces allow/deny/mapping (Lura's flatmapFormatter)
      {"flatmap with target and group",
       [](config::Backend& b) {
         b.target = "data";
         b.group = "g";
         b.extra_config = Json::parse(R"({"proxy": {"flatmap_filter": [
             {"type": "move", "args": ["items.*.price", "items.*.cost"]},
             {"type": "del", "args": ["tmp"]}]}})");
       },
       R"({"data": {"items": [{"price": 1}, {"price": 2, "n": 1}], "tmp": 0}})",
       R"({"g": {"items": [{"cost": 1}, {"cost": 2, "n": 1}]}})"},
      {"flatmap makes allow, deny and mapping inert",
       [](config::Backend& b) {
         b.allow = {"a"};
         b.mapping = {{"b", "bb"}};
         b.extra_config =
             Json::parse(R"({"proxy": {"flatmap_filter": [{"type": "del", "args": ["c"]}]}})");
       },
       R"({"a": 1, "b": 2, "c": 3})", R"({"a": 1, "b": 2})"},
      {"an empty flatmap_filter leaves the basic shaping on",
       [](config::Backend& b) {
         b.allow = {"a"};
         b.extra_config = Json::parse(R"({"proxy": {"flatmap_filter": []}})");
       },
       R"({"a": 1, "b": 2})", R"({"a": 1})"},
      {"other proxy keys are not flatmap",
       [](config::Backend& b) {
         b.deny = {"b"};
         b.extra_config = Json::parse(R"({"proxy": {"sequential": true}, "backend/http": {}})");
       },
       R"({"a": 1, "b": 2})", R"({"a": 1})"},
  };
  return *cases;
}

TEST(BackendShaperTest, Table) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Shape(MakeBackend(c.setup), c.input), Json::parse(c.expected));
  }
}

TEST(BackendShaperTest, ApplyIsRepeatableOnFreshInputs) {
  // Built once, applied per request: state must not leak between calls.
  config::Backend b = MakeBackend([](config::Backend& b) {
    b.allow = {"a", "n.x"};
    b.mapping = {{"a", "b"}};
    b.group = "g";
  });
  absl::StatusOr<BackendShaper> shaper = BackendShaper::Create(b);
  ASSERT_TRUE(shaper.ok()) << shaper.status();
  for (int i = 0; i < 3; ++i) {
    Json v = Json::parse(R"({"a": 1, "n": {"x": 2, "y": 3}, "z": 4})");
    shaper->Apply(v);
    EXPECT_EQ(v, Json::parse(R"({"g": {"b": 1, "n": {"x": 2}}})"));
  }
}

TEST(BackendShaperTest, IsIdentityOnlyWithoutAnyShapingKey) {
  EXPECT_TRUE(BackendShaper::Create(MakeBackend(nullptr))->is_identity());
  EXPECT_TRUE(BackendShaper::Create(MakeBackend([](config::Backend& b) {
                b.extra_config = Json::parse(R"({"proxy": {"flatmap_filter": []}})");
                b.is_collection = true;
              }))->is_identity());
  for (const auto& setup : std::vector<std::function<void(config::Backend&)>>{
           [](config::Backend& b) { b.target = "a"; }, [](config::Backend& b) { b.allow = {"a"}; },
           [](config::Backend& b) { b.deny = {"a"}; },
           [](config::Backend& b) {
             b.mapping = {{"a", "b"}};
           },
           [](config::Backend& b) { b.group = "g"; },
           [](config::Backend& b) {
             b.extra_config =
                 Json::parse(R"({"proxy": {"flatmap_filter": [{"type":"del","args":["a"]}]}})");
           }}) {
    EXPECT_FALSE(BackendShaper::Create(MakeBackend(setup))->is_identity());
  }
}

TEST(BackendShaperTest, NonObjectValuesDoNotCrash) {
  // Decoders always produce objects; a caller that does not still gets a defined result.
  config::Backend b = MakeBackend([](config::Backend& b) {
    b.target = "a";
    b.group = "g";
  });
  absl::StatusOr<BackendShaper> shaper = BackendShaper::Create(b);
  ASSERT_TRUE(shaper.ok());
  for (const char* input : {"null", "[1]", "3", "\"s\""}) {
    Json v = Json::parse(input);
    shaper->Apply(v);
    EXPECT_EQ(v, Json::parse(R"({"g": {}})")) << input;
  }
  absl::StatusOr<BackendShaper> filters = BackendShaper::Create(MakeBackend([](config::Backend& b) {
    b.allow = {"a"};
    b.mapping = {{"a", "b"}};
  }));
  ASSERT_TRUE(filters.ok());
  Json array = Json::parse("[1, 2]");
  filters->Apply(array);
  EXPECT_EQ(array, Json::parse("[1, 2]"));
}

TEST(BackendShaperTest, MalformedPathsFailCreateNamingTheBackendAndKey) {
  struct Bad {
    std::function<void(config::Backend&)> setup;
    const char* expected;
  };
  for (const Bad& bad : std::vector<Bad>{
           {[](config::Backend& b) { b.target = "a..b"; },
            "endpoints[0].backend[1].target: path \"a..b\" has an empty segment"},
           {[](config::Backend& b) {
              b.allow = {"ok", ""};
            },
            "endpoints[0].backend[1].allow: empty path"},
           {[](config::Backend& b) { b.deny = {".x"}; },
            "endpoints[0].backend[1].deny: path \".x\" has an empty segment"},
       }) {
    absl::StatusOr<BackendShaper> shaper = BackendShaper::Create(MakeBackend(bad.setup));
    ASSERT_FALSE(shaper.ok()) << bad.expected;
    EXPECT_EQ(shaper.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Message(shaper.status()), bad.expected);
  }
}

TEST(BackendShaperTest, DeepValuesAreShapedWithoutRecursingIntoThem) {
  // Shaping walks only as deep as the configured paths: a hostile 900-level body costs nothing.
  std::string body = R"({"keep": )";
  for (int i = 0; i < 900; ++i) body += "[";
  for (int i = 0; i < 900; ++i) body += "]";
  body += R"(, "drop": 1})";
  absl::StatusOr<BackendShaper> shaper = BackendShaper::Create(MakeBackend([](config::Backend& b) {
    b.allow = {"keep"};
    b.group = "g";
  }));
  ASSERT_TRUE(shaper.ok());
  Json v = Json::parse(body);
  shaper->Apply(v);
  ASSERT_TRUE(v["g"].contains("keep"));
  EXPECT_FALSE(v["g"].contains("drop"));
}

}  // namespace
}  // namespace sluice::shaping
