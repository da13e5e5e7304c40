#include "gateway/shaping/flatmap.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sluice::shaping {
namespace {

using Json = nlohmann::json;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

Json Filter(const char* ops, const char* input) {
  absl::StatusOr<FlatmapFilter> filter = FlatmapFilter::Create(Json::parse(ops));
  EXPECT_TRUE(filter.ok()) << filter.status();
  Json value = Json::parse(input);
  if (filter.ok()) filter->Apply(value);
  return value;
}

TEST(ParseDotPathTest, SplitsOnDots) {
  EXPECT_EQ(*ParseDotPath("a"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(*ParseDotPath("a.*.0.b"), (std::vector<std::string>{"a", "*", "0", "b"}));
  for (const char* bad : {"", ".", "a.", ".a", "a..b"}) {
    absl::StatusOr<std::vector<std::string>> path = ParseDotPath(bad);
    EXPECT_FALSE(path.ok()) << bad;
    EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

struct Case {
  const char* name;
  const char* ops;
  const char* input;
  const char* expected;
};

TEST(FlatmapFilterTest, Table) {
  const std::vector<Case> cases = {
      // move
      {"move renames", R"([{"type": "move", "args": ["a", "b"]}])", R"({"a": 1, "c": 2})",
       R"({"b": 1, "c": 2})"},
      {"move out of a nested object", R"([{"type": "move", "args": ["a.b", "c"]}])",
       R"({"a": {"b": 1, "x": 2}})", R"({"a": {"x": 2}, "c": 1})"},
      {"move creates missing objects", R"([{"type": "move", "args": ["a", "x.y.z"]}])",
       R"({"a": [1]})", R"({"x": {"y": {"z": [1]}}})"},
      {"move overwrites the destination", R"([{"type": "move", "args": ["a", "b"]}])",
       R"({"a": 1, "b": {"old": true}})", R"({"b": 1})"},
      {"move of a missing path is a no-op", R"([{"type": "move", "args": ["nope", "b"]}])",
       R"({"b": 2})", R"({"b": 2})"},
      {"move into itself", R"([{"type": "move", "args": ["a", "a.inner"]}])", R"({"a": 1})",
       R"({"a": {"inner": 1}})"},
      {"move up over its parent", R"([{"type": "move", "args": ["a.b", "a"]}])",
       R"({"a": {"b": 5, "c": 6}})", R"({"a": 5})"},
      {"move an array element by index", R"([{"type": "move", "args": ["items.0", "first"]}])",
       R"({"items": ["x", "y"]})", R"({"items": ["y"], "first": "x"})"},
      {"move renames inside every element",
       R"([{"type": "move", "args": ["items.*.price", "items.*.cost"]}])",
       R"({"items": [{"price": 1, "id": "a"}, {"id": "b"}, {"price": 3}]})",
       R"({"items": [{"cost": 1, "id": "a"}, {"id": "b"}, {"cost": 3}]})"},
      {"move into another array, index by index",
       R"([{"type": "move", "args": ["items.*.id", "ids.*"]}])",
       R"({"items": [{"id": 1}, {"id": 2}]})", R"({"items": [{}, {}], "ids": [1, 2]})"},
      {"move with two wildcards", R"([{"type": "move", "args": ["a.*.b.*.c", "a.*.b.*.d"]}])",
       R"({"a": [{"b": [{"c": 1}, {"c": 2}]}, {"b": [{"c": 3}]}]})",
       R"({"a": [{"b": [{"d": 1}, {"d": 2}]}, {"b": [{"d": 3}]}]})"},
      {"wildcard over object members",
       R"([{"type": "move", "args": ["users.*.pw", "users.*.hash"]}])",
       R"({"users": {"ann": {"pw": 1}, "bob": {"pw": 2}}})",
       R"({"users": {"ann": {"hash": 1}, "bob": {"hash": 2}}})"},
      {"wildcard over a scalar matches nothing",
       R"([{"type": "move", "args": ["a.*.x", "a.*.y"]}])", R"({"a": 3})", R"({"a": 3})"},
      {"numeric segment on an object is a key", R"([{"type": "move", "args": ["m.0", "z"]}])",
       R"({"m": {"0": "k"}})", R"({"m": {}, "z": "k"})"},
      {"out of range index is a no-op", R"([{"type": "move", "args": ["items.5", "z"]}])",
       R"({"items": [1]})", R"({"items": [1]})"},
      {"move replaces a scalar in the way", R"([{"type": "move", "args": ["a", "b.c"]}])",
       R"({"a": 1, "b": 2})", R"({"b": {"c": 1}})"},
      {"index past the end appends", R"([{"type": "move", "args": ["a", "list.7"]}])",
       R"({"a": 9, "list": [1]})", R"({"list": [1, 9]})"},

      // del
      {"del several paths", R"([{"type": "del", "args": ["a", "b.c", "missing"]}])",
       R"({"a": 1, "b": {"c": 2, "d": 3}, "e": 4})", R"({"b": {"d": 3}, "e": 4})"},
      {"del inside every element", R"([{"type": "del", "args": ["items.*.price"]}])",
       R"({"items": [{"price": 1, "id": 1}, {"id": 2}, 7]})",
       R"({"items": [{"id": 1}, {"id": 2}, 7]})"},
      {"del a.* empties but keeps", R"([{"type": "del", "args": ["a.*", "o.*"]}])",
       R"({"a": [1, 2], "o": {"x": 1}})", R"({"a": [], "o": {}})"},
      {"del an array element shifts the rest", R"([{"type": "del", "args": ["a.1"]}])",
       R"({"a": [0, 1, 2]})", R"({"a": [0, 2]})"},
      {"del an element of every nested array", R"([{"type": "del", "args": ["a.*.0"]}])",
       R"({"a": [[1, 2], [3], []]})", R"({"a": [[2], [], []]})"},
      {"del secrets of every member", R"([{"type": "del", "args": ["*.secret"]}])",
       R"({"x": {"secret": 1, "k": 1}, "y": {"secret": 2}, "z": 3})",
       R"({"x": {"k": 1}, "y": {}, "z": 3})"},

      // append
      {"append concatenates and removes the source",
       R"([{"type": "append", "args": ["extra", "items"]}])",
       R"({"items": [1, 2], "extra": [3, 4]})", R"({"items": [1, 2, 3, 4]})"},
      {"append to a missing destination", R"([{"type": "append", "args": ["extra", "items"]}])",
       R"({"extra": [3]})", R"({"items": [3]})"},
      {"append a scalar adds one element", R"([{"type": "append", "args": ["one", "items"]}])",
       R"({"items": [1], "one": {"k": 2}})", R"({"items": [1, {"k": 2}]})"},
      {"append onto a non-array keeps it as the first element",
       R"([{"type": "append", "args": ["b", "a"]}])", R"({"a": "x", "b": ["y"]})",
       R"({"a": ["x", "y"]})"},
      {"append of a missing source is a no-op",
       R"([{"type": "append", "args": ["nope", "items"]}])", R"({"items": [1]})",
       R"({"items": [1]})"},
      {"append inside every element", R"([{"type": "append", "args": ["o.*.more", "o.*.list"]}])",
       R"({"o": [{"list": [1], "more": [2]}, {"more": [3]}, {"list": [4]}]})",
       R"({"o": [{"list": [1, 2]}, {"list": [3]}, {"list": [4]}]})"},

      // sequences run in order
      {"ops run in order",
       R"([{"type": "move", "args": ["a", "b"]}, {"type": "append", "args": ["c", "b"]},
           {"type": "del", "args": ["b.0"]}])",
       R"({"a": [1, 2], "c": [3]})", R"({"b": [2, 3]})"},
      {"empty op list", R"([])", R"({"a": 1})", R"({"a": 1})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Filter(c.ops, c.input), Json::parse(c.expected));
  }
}

TEST(FlatmapFilterTest, EmptyReportsWhetherThereAreOps) {
  EXPECT_TRUE(FlatmapFilter::Create(Json::array())->empty());
  EXPECT_FALSE(FlatmapFilter::Create(Json::parse(R"([{"type":"del","args":["a"]}])"))->empty());
}

TEST(FlatmapFilterTest, InvalidOpsFailCreate) {
  struct Bad {
    const char* ops;
    const char* message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {R"({"type": "del"})", "flatmap_filter must be an array, got object"},
           {R"([1])", "flatmap_filter[0] must be an object"},
           {R"([{"args": ["a"]}])", "flatmap_filter[0].type must be a string"},
           {R"([{"type": "del", "args": ["a"]}, {"type": "copy", "args": ["a", "b"]}])",
            "flatmap_filter[1].type \"copy\" is not one of move, del, append"},
           {R"([{"type": "del", "args": "a"}])",
            "flatmap_filter[0].args must be an array of paths"},
           {R"([{"type": "del"}])", "flatmap_filter[0].args must be an array of paths"},
           {R"([{"type": "del", "args": [1]}])",
            "flatmap_filter[0].args must contain only strings"},
           {R"([{"type": "del", "args": []}])", "flatmap_filter[0] (del) needs at least one path"},
           {R"([{"type": "move", "args": ["a"]}])",
            "flatmap_filter[0] (move) needs exactly 2 paths [from, to], got 1"},
           {R"([{"type": "append", "args": ["a", "b", "c"]}])",
            "flatmap_filter[0] (append) needs exactly 2 paths [from, to], got 3"},
           {R"([{"type": "move", "args": ["a.*.b", "c"]}])",
            "flatmap_filter[0] (move) needs as many * in the destination as in the source"},
           {R"([{"type": "del", "args": ["a..b"]}])",
            "flatmap_filter[0].args: path \"a..b\" has an empty segment"},
       }) {
    absl::StatusOr<FlatmapFilter> filter = FlatmapFilter::Create(Json::parse(bad.ops));
    ASSERT_FALSE(filter.ok()) << bad.ops;
    EXPECT_EQ(filter.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Message(filter.status()), bad.message);
  }
}

TEST(FlatmapFilterTest, HostileShapesDoNotCrash) {
  absl::StatusOr<FlatmapFilter> filter = FlatmapFilter::Create(Json::parse(R"([
      {"type": "move", "args": ["*.*.*", "x.*.*.*"]},
      {"type": "del", "args": ["*.*"]},
      {"type": "append", "args": ["x.*", "y.*"]}])"));
  ASSERT_TRUE(filter.ok()) << filter.status();
  for (const char* input : {"null", "1", "\"s\"", "[]", "{}", R"([[[1]], {"a": {"b": {"c": 1}}}])",
                            R"({"a": [[1, 2], {"k": [3]}], "b": null, "c": {"d": [[]]}})"}) {
    Json value = Json::parse(input);
    filter->Apply(value);  // must terminate without crashing; the result is not specified
  }
  // Many elements: linear work, no quadratic blow-up in practice.
  Json big = Json::object();
  for (int i = 0; i < 20000; ++i) big["items"].push_back({{"price", i}, {"id", i}});
  absl::StatusOr<FlatmapFilter> rename = FlatmapFilter::Create(
      Json::parse(R"([{"type": "move", "args": ["items.*.price", "items.*.cost"]}])"));
  ASSERT_TRUE(rename.ok());
  rename->Apply(big);
  ASSERT_EQ(big["items"].size(), 20000u);
  EXPECT_EQ(big["items"][19999], Json::parse(R"({"cost": 19999, "id": 19999})"));
}

}  // namespace
}  // namespace sluice::shaping
