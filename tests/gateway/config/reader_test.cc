#include "gateway/config/reader.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::config {
namespace {

using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::Field;

auto Diag(const std::string& path, const std::string& message) {
  return ::testing::AllOf(Field(&Diagnostic::path, path), Field(&Diagnostic::message, message));
}

TEST(ObjectReaderTest, TypedValuesAndAbsentKeys) {
  const Json j = Json::parse(R"({"s": "x", "b": true, "i": 7, "n": 1.5, "d": "1m30s",
                                 "l": ["a", "b"], "o": {"k": 1}, "null": null})");
  Diagnostics sink;
  ObjectReader r(j, "extra_config.x", &sink);
  EXPECT_EQ(r.String("s"), "x");
  EXPECT_EQ(r.Bool("b"), true);
  EXPECT_EQ(r.Int("i", 0, 10), 7);
  EXPECT_EQ(r.Number("n"), 1.5);
  EXPECT_EQ(r.Number("i"), 7.0);
  EXPECT_EQ(r.Duration("d"), absl::Seconds(90));
  EXPECT_EQ(r.Strings("l"), (std::vector<std::string>{"a", "b"}));
  std::optional<ObjectReader> o = r.Object("o");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->path(), "extra_config.x.o");
  EXPECT_EQ(o->Int("k", 0, 1), 1);
  // Absent and null are alike.
  EXPECT_FALSE(r.String("missing"));
  EXPECT_FALSE(r.String("null"));
  EXPECT_FALSE(r.Object("null"));
  EXPECT_TRUE(sink.errors.empty());
  EXPECT_TRUE(sink.lint.empty());
}

TEST(ObjectReaderTest, WrongTypesAreErrorsNamingThePath) {
  const Json j = Json::parse(R"({"s": 1, "b": "maybe", "i": "x", "d": 5, "l": ["a", 2], "o": []})");
  Diagnostics sink;
  ObjectReader r(j, "endpoints[0].extra_config.ns", &sink);
  EXPECT_FALSE(r.String("s"));
  EXPECT_FALSE(r.Bool("b"));
  EXPECT_FALSE(r.Int("i", 0, 10));
  EXPECT_FALSE(r.Duration("d"));
  EXPECT_FALSE(r.Strings("l"));
  EXPECT_FALSE(r.Object("o"));
  EXPECT_THAT(
      sink.errors,
      ElementsAre(Diag("endpoints[0].extra_config.ns.s", "expected a string, got integer"),
                  Diag("endpoints[0].extra_config.ns.b", "expected a boolean, got string"),
                  Diag("endpoints[0].extra_config.ns.i", "expected an integer, got string"),
                  Diag("endpoints[0].extra_config.ns.d", "expected a duration string, got integer"),
                  Diag("endpoints[0].extra_config.ns.l[1]", "expected a string, got integer"),
                  Diag("endpoints[0].extra_config.ns.o", "expected an object, got array")));
}

TEST(ObjectReaderTest, LooseTypesAsKrakenDLoadsThemAreLinted) {
  const Json j = Json::parse(R"({"b": "true", "f": "0", "i": "12", "n": "2.5", "whole": 3.0})");
  Diagnostics sink;
  ObjectReader r(j, "p", &sink);
  EXPECT_EQ(r.Bool("b"), true);
  EXPECT_EQ(r.Bool("f"), false);
  EXPECT_EQ(r.Int("i", 0, 100), 12);
  EXPECT_EQ(r.Number("n"), 2.5);
  EXPECT_EQ(r.Int("whole", 0, 5), 3);
  EXPECT_TRUE(sink.errors.empty());
  EXPECT_THAT(sink.lint, ElementsAre(Diag("p.b", "a boolean written as the string \"true\""),
                                     Diag("p.f", "a boolean written as the string \"0\""),
                                     Diag("p.i", "an integer written as the string \"12\""),
                                     Diag("p.n", "a number written as the string \"2.5\"")));
}

TEST(ObjectReaderTest, RangesAndDurations) {
  const Json j = Json::parse(R"({"lo": -1, "hi": 11, "big": 18446744073709551615, "secs": 30,
                                 "neg": "-1s", "bad": "5 minutes"})");
  Diagnostics sink;
  ObjectReader r(j, "", &sink);
  EXPECT_FALSE(r.Int("lo", 0, 10));
  EXPECT_FALSE(r.Int("hi", 0, 10));
  EXPECT_FALSE(r.Int("big", 0, 10));
  EXPECT_EQ(r.Duration("secs", /*int_seconds=*/true), absl::Seconds(30));
  EXPECT_FALSE(r.Duration("neg"));
  EXPECT_FALSE(r.Duration("bad"));
  EXPECT_THAT(sink.errors,
              ElementsAre(Diag("lo", "must be between 0 and 10, got -1"),
                          Diag("hi", "must be between 0 and 10, got 11"),
                          Diag("big", "integer out of range"),
                          Diag("neg", "negative duration \"-1s\" is not allowed"),
                          Diag("bad",
                               "malformed duration \"5 minutes\" (use Go syntax such as "
                               "\"2s\", \"1500ms\")")));
}

TEST(ObjectReaderTest, UnknownKeysAreLintedWithASuggestionAndCommentsSkipped) {
  const Json j = Json::parse(R"({"max_rate": 1, "max_rat": 2, "@comment": "x", "zzz": 0})");
  Diagnostics sink;
  ObjectReader r(j, "ns", &sink);
  constexpr std::string_view kKnown[] = {"max_rate", "capacity"};
  r.CheckKeys(kKnown);
  EXPECT_THAT(sink.lint, ElementsAre(Diag("ns.max_rat", "unknown key (did you mean \"max_rate\"?)"),
                                     Diag("ns.zzz", "unknown key")));
}

TEST(ObjectReaderTest, ANonObjectIsOneErrorAndEveryAccessorIsEmpty) {
  const Json j = Json::array();
  Diagnostics sink;
  ObjectReader r(j, "extra_config.ns", &sink);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.String("a"));
  EXPECT_THAT(sink.errors, ElementsAre(Diag("extra_config.ns", "expected an object, got array")));
}

TEST(ParseDurationTest, GoSyntax) {
  EXPECT_EQ(ParseDuration("1h2m3s"), absl::Hours(1) + absl::Minutes(2) + absl::Seconds(3));
  EXPECT_EQ(ParseDuration("1.5s"), absl::Milliseconds(1500));
  EXPECT_EQ(ParseDuration("0"), absl::ZeroDuration());
  EXPECT_FALSE(ParseDuration("-1s"));
  EXPECT_FALSE(ParseDuration("1"));
}

}  // namespace
}  // namespace sluice::config
