#include "gateway/router/router.h"

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "gateway/common/strings.h"
#include "gtest/gtest.h"

namespace sluice::router {
namespace {

// The outcome of one Match call, comparable in a single EXPECT_EQ.
struct Outcome {
  MatchResult result = MatchResult::kNotFound;
  int id = -1;
  std::vector<std::pair<std::string, std::string>> params;

  bool operator==(const Outcome& o) const {
    return result == o.result && id == o.id && params == o.params;
  }
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  switch (o.result) {
    case MatchResult::kFound:
      os << "found id=" << o.id;
      break;
    case MatchResult::kNotFound:
      os << "404";
      break;
    case MatchResult::kMethodNotAllowed:
      os << "405";
      break;
  }
  for (const auto& [name, value] : o.params) os << " " << name << "=\"" << value << "\"";
  return os;
}

Outcome Found(int id, std::vector<std::pair<std::string, std::string>> params = {}) {
  return Outcome{MatchResult::kFound, id, std::move(params)};
}
const Outcome kNotFound{MatchResult::kNotFound, -1, {}};
const Outcome kMethodNotAllowed{MatchResult::kMethodNotAllowed, -1, {}};

Router MustBuild(const std::vector<Route>& routes) {
  absl::StatusOr<Router> r = Router::Build(routes);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return std::move(Router::Build({}).value());
  return std::move(r).value();
}

Outcome Match(const Router& router, std::string_view method, std::string_view path) {
  Outcome o;
  Params params;
  o.result = router.Match(method, path, &o.id, &params);
  if (o.result != MatchResult::kFound) {
    o.id = -1;
    return o;
  }
  for (const auto& [name, value] : params) o.params.emplace_back(std::string(name), value);
  return o;
}

// ----- literal vs param -------------------------------------------------------------------------

class UsersRouterTest : public ::testing::Test {
 protected:
  const Router router_ = MustBuild({
      {"GET", "/users/{id}", 1},
      {"GET", "/users/search", 2},  // registered after the param route on purpose
      {"GET", "/users/{id}/posts", 3},
      {"GET", "/users", 4},
  });
};

TEST_F(UsersRouterTest, LiteralBeatsParamWhateverTheRegistrationOrder) {
  EXPECT_EQ(Match(router_, "GET", "/users/search"), Found(2));
  EXPECT_EQ(Match(router_, "GET", "/users/42"), Found(1, {{"id", "42"}}));
  EXPECT_EQ(Match(router_, "GET", "/users"), Found(4));
}

TEST_F(UsersRouterTest, BacktracksFromADeadLiteralBranchIntoTheParam) {
  // "search" matches the literal, but /users/search has no "posts" child: the walk must come back
  // and try {id} = "search".
  EXPECT_EQ(Match(router_, "GET", "/users/search/posts"), Found(3, {{"id", "search"}}));
  EXPECT_EQ(Match(router_, "GET", "/users/7/posts"), Found(3, {{"id", "7"}}));
  // Failed attempts leave no stale params behind.
  EXPECT_EQ(Match(router_, "GET", "/users/search/comments"), kNotFound);
}

TEST_F(UsersRouterTest, LiteralsAreComparedOnTheRawPathSoAnEncodedLiteralIsAParamValue) {
  // "%73earch" decodes to "search" but routing sees the encoded bytes: it is a value for {id}.
  EXPECT_EQ(Match(router_, "GET", "/users/%73earch"), Found(1, {{"id", "search"}}));
}

TEST(RouterTest, BacktracksAcrossSeveralLevels) {
  const Router router = MustBuild({
      {"GET", "/a/{x}/c/d", 1},
      {"GET", "/a/b/c/e", 2},
      {"GET", "/a/b/{y}/f", 3},
  });
  EXPECT_EQ(Match(router, "GET", "/a/b/c/e"), Found(2));
  EXPECT_EQ(Match(router, "GET", "/a/b/c/f"), Found(3, {{"y", "c"}}));
  EXPECT_EQ(Match(router, "GET", "/a/b/c/d"), Found(1, {{"x", "b"}}));
  EXPECT_EQ(Match(router, "GET", "/a/b/c/g"), kNotFound);
}

TEST(RouterTest, SeveralParamsComeBackInTemplateOrder) {
  const Router router = MustBuild({{"GET", "/orgs/{org}/repos/{repo}/issues/{n}", 9}});
  EXPECT_EQ(Match(router, "GET", "/orgs/acme/repos/gw/issues/12"),
            Found(9, {{"org", "acme"}, {"repo", "gw"}, {"n", "12"}}));
}

TEST(RouterTest, ParamNamesAreThoseOfTheMatchedTemplate) {
  // Both templates share the trie node for the second segment; each must still report its own
  // parameter name (router.h: "Names point into the router", in template order).
  const Router router = MustBuild({
      {"GET", "/users/{id}", 1},
      {"GET", "/users/{name}/posts", 2},
  });
  EXPECT_EQ(Match(router, "GET", "/users/7"), Found(1, {{"id", "7"}}));
  EXPECT_EQ(Match(router, "GET", "/users/ann/posts"), Found(2, {{"name", "ann"}}));
}

// ----- 404 / 405 / HEAD -------------------------------------------------------------------------

TEST(RouterTest, NotFoundVersusMethodNotAllowed) {
  const Router router = MustBuild({
      {"GET", "/items", 1},
      {"POST", "/items", 2},
      {"DELETE", "/items/{id}", 3},
  });
  EXPECT_EQ(Match(router, "GET", "/items"), Found(1));
  EXPECT_EQ(Match(router, "POST", "/items"), Found(2));
  EXPECT_EQ(Match(router, "PUT", "/items"), kMethodNotAllowed);
  EXPECT_EQ(Match(router, "DELETE", "/items/5"), Found(3, {{"id", "5"}}));
  EXPECT_EQ(Match(router, "GET", "/items/5"), kMethodNotAllowed);
  EXPECT_EQ(Match(router, "GET", "/nothing"), kNotFound);
  EXPECT_EQ(Match(router, "GET", "/items/5/extra"), kNotFound);
  // A prefix of a route that has no route of its own is not found, not "method not allowed".
  const Router deep = MustBuild({{"GET", "/a/b", 1}});
  EXPECT_EQ(Match(deep, "GET", "/a"), kNotFound);
  EXPECT_EQ(Match(deep, "POST", "/a"), kNotFound);
}

TEST(RouterTest, MethodsAreCaseSensitive) {
  const Router router = MustBuild({{"GET", "/a", 1}});
  EXPECT_EQ(Match(router, "get", "/a"), kMethodNotAllowed);
}

TEST(RouterTest, AMethodMismatchOnTheLiteralRouteFallsBackToTheParamRoute) {
  // KrakenD (gin) keeps one tree per method: POST /users/search is served by POST /users/{id}.
  // A literal GET route must not make a configured POST route unreachable for that value.
  const Router router = MustBuild({
      {"GET", "/users/search", 1},
      {"POST", "/users/{id}", 2},
  });
  EXPECT_EQ(Match(router, "POST", "/users/42"), Found(2, {{"id", "42"}}));
  EXPECT_EQ(Match(router, "POST", "/users/search"), Found(2, {{"id", "search"}}));
  EXPECT_EQ(Match(router, "PUT", "/users/search"), kMethodNotAllowed);
}

TEST(RouterTest, HeadFallsBackToGet) {
  const Router router = MustBuild({
      {"GET", "/a", 1},
      {"GET", "/b", 2},
      {"HEAD", "/b", 3},
      {"POST", "/c", 4},
  });
  EXPECT_EQ(Match(router, "HEAD", "/a"), Found(1));
  EXPECT_EQ(Match(router, "HEAD", "/b"), Found(3));  // an explicit HEAD route wins
  EXPECT_EQ(Match(router, "HEAD", "/c"), kMethodNotAllowed);
  // The fallback is one way: GET does not use a HEAD route.
  const Router head_only = MustBuild({{"HEAD", "/h", 1}});
  EXPECT_EQ(Match(head_only, "GET", "/h"), kMethodNotAllowed);
}

// ----- Build errors -----------------------------------------------------------------------------

TEST(RouterTest, DuplicateRouteIsAnErrorNamingIt) {
  absl::StatusOr<Router> r = Router::Build({
      {"GET", "/users/{id}", 1},
      {"POST", "/users/{id}", 2},
      {"GET", "/users/{id}", 3},
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(std::string(r.status().message()).find("duplicate route GET /users/{id}"),
            std::string::npos)
      << r.status();
}

TEST(RouterTest, SameShapeWithADifferentParamNameIsADuplicate) {
  absl::StatusOr<Router> r = Router::Build({{"GET", "/u/{id}", 1}, {"GET", "/u/{name}", 2}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(RouterTest, TemplateMustStartWithASlash) {
  for (const char* bad : {"", "users", "{id}"}) {
    absl::StatusOr<Router> r = Router::Build({{"GET", bad, 1}});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(std::string(r.status().message()).find("must start with '/'"), std::string::npos);
  }
}

TEST(RouterTest, AnEmptyRouterFindsNothing) {
  const Router router = MustBuild({});
  EXPECT_EQ(Match(router, "GET", "/"), kNotFound);
  EXPECT_EQ(Match(router, "GET", "/a"), kNotFound);
}

// ----- values and path shapes -------------------------------------------------------------------

TEST(RouterTest, ParamValuesArePercentDecodedAfterSplitting) {
  const Router router = MustBuild({{"GET", "/files/{name}", 1}, {"GET", "/files/{name}/meta", 2}});
  // An encoded '/' stays inside the one segment it was sent in.
  EXPECT_EQ(Match(router, "GET", "/files/a%2Fb"), Found(1, {{"name", "a/b"}}));
  EXPECT_EQ(Match(router, "GET", "/files/a%2fb/meta"), Found(2, {{"name", "a/b"}}));
  EXPECT_EQ(Match(router, "GET", "/files/hello%20world"), Found(1, {{"name", "hello world"}}));
  EXPECT_EQ(Match(router, "GET", "/files/%C3%A9t%C3%A9"),
            Found(1, {{"name", "\xC3\xA9t\xC3\xA9"}}));
  EXPECT_EQ(Match(router, "GET", "/files/a+b"), Found(1, {{"name", "a+b"}}));  // '+' is literal
  EXPECT_EQ(Match(router, "GET", "/files/%2E%2E"), Found(1, {{"name", ".."}}));
  EXPECT_EQ(Match(router, "GET", "/files/x%00y"), Found(1, {{"name", std::string("x\0y", 3)}}));
}

TEST(RouterTest, AnEmptySegmentNeverMatchesAParam) {
  const Router router = MustBuild({{"GET", "/users/{id}", 1}, {"GET", "/users/{id}/posts", 2}});
  EXPECT_EQ(Match(router, "GET", "/users/"), kNotFound);
  EXPECT_EQ(Match(router, "GET", "/users//posts"), kNotFound);
  EXPECT_EQ(Match(router, "GET", "/users"), kNotFound);
}

TEST(RouterTest, RootRoute) {
  const Router router = MustBuild({{"GET", "/", 1}, {"GET", "/{x}", 2}});
  EXPECT_EQ(Match(router, "GET", "/"), Found(1));
  EXPECT_EQ(Match(router, "GET", "/a"), Found(2, {{"x", "a"}}));
  EXPECT_EQ(Match(router, "POST", "/"), kMethodNotAllowed);
  EXPECT_EQ(Match(router, "GET", "//"), kNotFound);

  const Router no_root = MustBuild({{"GET", "/a", 1}});
  EXPECT_EQ(Match(no_root, "GET", "/"), kNotFound);
}

TEST(RouterTest, TrailingSlashIsSignificant) {
  // Documented behaviour: no redirect and no tolerance. "/a" and "/a/" are different paths, and
  // each matches only a template written the same way.
  const Router router = MustBuild({
      {"GET", "/a", 1},
      {"GET", "/b/", 2},
      {"GET", "/users/{id}", 3},
  });
  EXPECT_EQ(Match(router, "GET", "/a"), Found(1));
  EXPECT_EQ(Match(router, "GET", "/a/"), kNotFound);
  EXPECT_EQ(Match(router, "GET", "/b/"), Found(2));
  EXPECT_EQ(Match(router, "GET", "/b"), kNotFound);
  EXPECT_EQ(Match(router, "GET", "/users/1/"), kNotFound);

  // Both forms may coexist as distinct routes.
  const Router both = MustBuild({{"GET", "/a", 1}, {"GET", "/a/", 2}});
  EXPECT_EQ(Match(both, "GET", "/a"), Found(1));
  EXPECT_EQ(Match(both, "GET", "/a/"), Found(2));
}

TEST(RouterTest, BracesThatAreNotAWholeSegmentAreLiteral) {
  const Router router = MustBuild({{"GET", "/a/{}", 1}, {"GET", "/b/x{id}", 2}});
  EXPECT_EQ(Match(router, "GET", "/a/{}"), Found(1));
  EXPECT_EQ(Match(router, "GET", "/a/z"), kNotFound);
  EXPECT_EQ(Match(router, "GET", "/b/x{id}"), Found(2));
  EXPECT_EQ(Match(router, "GET", "/b/x1"), kNotFound);
}

// ----- PercentDecode (gateway/common/strings.h, which decodes the router's params) --------------

TEST(PercentDecodeTest, DecodesEscapesInEitherCase) {
  EXPECT_EQ(PercentDecode(""), "");
  EXPECT_EQ(PercentDecode("plain"), "plain");
  EXPECT_EQ(PercentDecode("%2F"), "/");
  EXPECT_EQ(PercentDecode("%2f"), "/");
  EXPECT_EQ(PercentDecode("a%20b%3Dc"), "a b=c");
  EXPECT_EQ(PercentDecode("%25"), "%");
  EXPECT_EQ(PercentDecode("%2525"), "%25");  // decoded once, not recursively
  EXPECT_EQ(PercentDecode("%FF"), "\xFF");
  EXPECT_EQ(PercentDecode("a+b"), "a+b");
}

TEST(PercentDecodeTest, MalformedEscapesAreKeptLiterally) {
  EXPECT_EQ(PercentDecode("%"), "%");
  EXPECT_EQ(PercentDecode("%2"), "%2");
  EXPECT_EQ(PercentDecode("a%"), "a%");
  EXPECT_EQ(PercentDecode("a%4"), "a%4");
  EXPECT_EQ(PercentDecode("%zz"), "%zz");
  EXPECT_EQ(PercentDecode("%G1"), "%G1");
  EXPECT_EQ(PercentDecode("%1G"), "%1G");
  EXPECT_EQ(PercentDecode("100%"), "100%");
  EXPECT_EQ(PercentDecode("%%41"), "%A");  // the first '%' is malformed, the second decodes
  EXPECT_EQ(PercentDecode("%-1"), "%-1");
}

}  // namespace
}  // namespace sluice::router
