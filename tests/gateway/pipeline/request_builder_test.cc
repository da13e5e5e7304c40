#include "gateway/pipeline/request_builder.h"

#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boost/beast/http/field.hpp"
#include "boost/beast/http/verb.hpp"
#include "gateway/router/router.h"
#include "gateway/version/version.h"
#include "gtest/gtest.h"

namespace sluice::pipeline {
namespace {

namespace bhttp = boost::beast::http;

config::AllowList Allow(std::vector<std::string> names) {
  config::AllowList l;
  l.names = std::move(names);
  return l;
}
config::AllowList AllowAll() {
  config::AllowList l;
  l.all = true;
  return l;
}
const config::AllowList kNone;

std::string Str(boost::string_view s) { return std::string(s.data(), s.size()); }

UrlTemplate MustCompile(std::string_view pattern, const std::vector<std::string>& params) {
  absl::StatusOr<UrlTemplate> t = UrlTemplate::Compile(pattern, params);
  EXPECT_TRUE(t.ok()) << pattern << ": " << t.status();
  if (!t.ok()) return std::move(UrlTemplate::Compile("", {}).value());
  return std::move(t).value();
}

router::Params Values(std::vector<std::pair<std::string_view, std::string>> v) {
  router::Params p;
  for (auto& [name, value] : v) p.emplace_back(name, std::move(value));
  return p;
}

std::string Expand(std::string_view pattern, const std::vector<std::string>& names,
                   const router::Params& values) {
  std::string out;
  MustCompile(pattern, names).Expand(values, &out);
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == sep) {
      out.emplace_back();
    } else {
      out.back().push_back(c);
    }
  }
  return out;
}

// ----- UrlTemplate ------------------------------------------------------------------------------

TEST(UrlTemplateTest, CompileRejectsAnUndefinedParam) {
  absl::StatusOr<UrlTemplate> t = UrlTemplate::Compile("/users/{id}/posts/{post}", {"id"});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(t.status().message()).find("{post}"), std::string::npos) << t.status();

  EXPECT_FALSE(UrlTemplate::Compile("/a?x={q}", {}).ok());
  EXPECT_TRUE(UrlTemplate::Compile("/users/{id}/posts/{post}", {"id", "post"}).ok());
}

TEST(UrlTemplateTest, ExpandsParamsByNameInAnyOrderAndRepeated) {
  const std::vector<std::string> names = {"a", "b"};
  const router::Params values = Values({{"a", "1"}, {"b", "2"}});
  EXPECT_EQ(Expand("/x/{b}/y/{a}", names, values), "/x/2/y/1");
  EXPECT_EQ(Expand("/{a}{b}/{a}", names, values), "/12/1");
  EXPECT_EQ(Expand("/static", names, values), "/static");
  EXPECT_EQ(Expand("/q?a={a}&b={b}", names, values), "/q?a=1&b=2");
}

TEST(UrlTemplateTest, BracesThatAreNotAParamNameStayLiteral) {
  // Dotted names (other than {JWT.claim}) and stray braces are not parameters of the path.
  const router::Params none;
  EXPECT_EQ(Expand("/a/{}", {}, none), "/a/{}");
  EXPECT_EQ(Expand("/a/{x.y}/b", {}, none), "/a/{x.y}/b");
  EXPECT_EQ(Expand("/a/{open", {}, none), "/a/{open");
  EXPECT_EQ(Expand("/a/close}", {}, none), "/a/close}");
  EXPECT_EQ(Expand("/a/{{id}}", {"id"}, Values({{"id", "7"}})), "/a/{7}");
}

TEST(UrlTemplateTest, HasQuery) {
  EXPECT_FALSE(MustCompile("/a/{id}", {"id"}).has_query());
  EXPECT_TRUE(MustCompile("/a?b={id}", {"id"}).has_query());
}

TEST(UrlTemplateTest, ExpandPercentEncodesHostileValues) {
  const std::vector<std::string> names = {"id"};
  auto expand = [&](std::string value) {
    return Expand("/users/{id}/posts?owner={id}", names, Values({{"id", std::move(value)}}));
  };
  EXPECT_EQ(expand("a/b"), "/users/a%2Fb/posts?owner=a%2Fb");
  EXPECT_EQ(expand("../../admin"), "/users/..%2F..%2Fadmin/posts?owner=..%2F..%2Fadmin");
  EXPECT_EQ(expand("x?admin=1"), "/users/x%3Fadmin%3D1/posts?owner=x%3Fadmin%3D1");
  EXPECT_EQ(expand("x#frag"), "/users/x%23frag/posts?owner=x%23frag");
  EXPECT_EQ(expand("1&role=admin"), "/users/1%26role%3Dadmin/posts?owner=1%26role%3Dadmin");
  EXPECT_EQ(expand("a\r\nX-Injected: 1"),
            "/users/a%0D%0AX-Injected%3A%201/posts?owner=a%0D%0AX-Injected%3A%201");
  EXPECT_EQ(expand("a b+c"), "/users/a%20b%2Bc/posts?owner=a%20b%2Bc");
  EXPECT_EQ(expand("100%"), "/users/100%25/posts?owner=100%25");
  EXPECT_EQ(expand("\xC3\xA9t\xC3\xA9"), "/users/%C3%A9t%C3%A9/posts?owner=%C3%A9t%C3%A9");
  EXPECT_EQ(expand(std::string("a\0b", 3)), "/users/a%00b/posts?owner=a%00b");
  // RFC 3986 unreserved characters pass unchanged.
  EXPECT_EQ(expand("AZaz09-._~"), "/users/AZaz09-._~/posts?owner=AZaz09-._~");
}

TEST(UrlTemplateTest, DotSegmentValuesCannotChangeThePath) {
  // The router hands over "." and ".." when the client sends "%2E" / "%2E%2E". Written back
  // unencoded they become dot-segments: the backend (or anything normalising the URL on the way)
  // resolves /api/users/../posts to /api/posts, a path the endpoint never exposed.
  const std::vector<std::string> names = {"id"};
  for (const char* value : {".", ".."}) {
    std::string out = Expand("/api/users/{id}/posts", names, Values({{"id", value}}));
    for (const std::string& segment : Split(out, '/')) {
      EXPECT_NE(segment, ".") << "value \"" << value << "\" expanded to " << out;
      EXPECT_NE(segment, "..") << "value \"" << value << "\" expanded to " << out;
    }
  }
}

TEST(PercentEncodeTest, AppendsToTheOutput) {
  std::string out = "prefix:";
  PercentEncode("a/b c", &out);
  EXPECT_EQ(out, "prefix:a%2Fb%20c");
  out.clear();
  PercentEncode("", &out);
  EXPECT_EQ(out, "");
  PercentEncode("\xFF", &out);
  EXPECT_EQ(out, "%FF");
}

// ----- FilterQuery ------------------------------------------------------------------------------

TEST(FilterQueryTest, KeepsAllowedKeysInOrderWithRepetitions) {
  const config::AllowList allow = Allow({"page", "tag"});
  EXPECT_EQ(FilterQuery("tag=a&secret=1&page=2&tag=b&other&page=3", allow),
            "tag=a&page=2&tag=b&page=3");
  EXPECT_EQ(FilterQuery("secret=1&other=2", allow), "");
  EXPECT_EQ(FilterQuery("", allow), "");
}

TEST(FilterQueryTest, KeysAreExactAndCaseSensitive) {
  const config::AllowList allow = Allow({"page"});
  EXPECT_EQ(FilterQuery("Page=1&pages=2&pag=3&page=4", allow), "page=4");
}

TEST(FilterQueryTest, KeysWithoutValuesAndEmptyValuesPass) {
  const config::AllowList allow = Allow({"flag", "page"});
  EXPECT_EQ(FilterQuery("flag&page=&x", allow), "flag&page=");
}

TEST(FilterQueryTest, EmptyPairsAndEmptyKeysAreDropped) {
  const config::AllowList allow = Allow({"a"});
  EXPECT_EQ(FilterQuery("&&a=1&&=2&a=3&", allow), "a=1&a=3");
}

TEST(FilterQueryTest, StarPassesTheQueryVerbatim) {
  EXPECT_EQ(FilterQuery("b=2&a=1&%20=x&&", AllowAll()), "b=2&a=1&%20=x&&");
}

TEST(FilterQueryTest, EmptyListPassesNothing) { EXPECT_EQ(FilterQuery("a=1&b=2", kNone), ""); }

TEST(FilterQueryTest, KeysAreComparedAfterPercentDecodingAndValuesPassAsSent) {
  const config::AllowList allow = Allow({"page", "a b", "x[]"});
  EXPECT_EQ(FilterQuery("%70age=1%202&a%20b=c&x%5B%5D=1&x%5b%5d=2", allow),
            "%70age=1%202&a%20b=c&x%5B%5D=1&x%5b%5d=2");
  // Decoding the key cannot smuggle in a different key: "page%3Dx" decodes to "page=x".
  EXPECT_EQ(FilterQuery("page%3Dx=1", allow), "");
}

// ----- BuildBackendRequest ----------------------------------------------------------------------

class BuildBackendRequestTest : public ::testing::Test {
 protected:
  BuildBackendRequestTest() {
    client_.version(11);
    client_.method(bhttp::verb::get);
    client_.target("/users/42");
    client_.set(bhttp::field::host, "gw.example.com");
  }

  // Builds with the current spec members.
  http::Request Build(const std::string& method = "GET", std::string body = "") {
    BackendRequestSpec spec;
    spec.url = &url_;
    spec.method = method;
    spec.query_allow = &query_allow_;
    spec.header_allow = &header_allow_;
    spec.backend_query_allow = backend_query_allow_;
    spec.backend_header_allow = backend_header_allow_;
    spec.pass_accept_encoding = pass_accept_encoding_;
    spec.decode_query = decode_query_;
    backend::BackendRequest built =
        BuildBackendRequest(spec, client_, "203.0.113.9", params_, std::move(body), request_id_);
    decoded_query_ = std::move(built.query);
    // As the REST backend sends it.
    http::Request req{http::Request::header_type(std::move(built.headers))};
    req.version(11);
    req.method_string(built.method);
    req.target(built.target);
    req.body() = std::move(built.body);
    return req;
  }

  static std::vector<std::string> Values(const http::Request& req, std::string_view name) {
    std::vector<std::string> out;
    for (const auto& field : req) {
      if (boost::beast::iequals(field.name_string(), boost::string_view(name.data(), name.size()))) {
        out.push_back(Str(field.value()));
      }
    }
    return out;
  }
  static bool HasHeader(const http::Request& req, std::string_view name) {
    return req.find(boost::string_view(name.data(), name.size())) != req.end();
  }

  UrlTemplate url_ = MustCompile("/api/users/{id}", {"id"});
  router::Params params_ = router::Params{{"id", "42"}};
  config::AllowList query_allow_;
  config::AllowList header_allow_;
  const config::AllowList* backend_query_allow_ = nullptr;
  const config::AllowList* backend_header_allow_ = nullptr;
  bool pass_accept_encoding_ = false;
  bool decode_query_ = false;
  std::string request_id_;
  std::vector<std::pair<std::string, std::string>> decoded_query_;
  http::Request client_;
};

TEST_F(BuildBackendRequestTest, RequestIdTravelsAsXRequestId) {
  client_.set("X-Request-Id", "client-chosen");
  EXPECT_FALSE(HasHeader(Build(), "X-Request-Id"));  // no id, and the client's is not allowed
  request_id_ = "abc123";
  EXPECT_EQ(Values(Build(), "X-Request-Id"), std::vector<std::string>{"abc123"});
  // Allow-listed, the client's header passes as sent (the request's id came from it).
  header_allow_ = AllowAll();
  EXPECT_EQ(Values(Build(), "X-Request-Id"), std::vector<std::string>{"client-chosen"});
}

TEST_F(BuildBackendRequestTest, DecodedQueryIsTheAllowListedPairsForFieldMappingBackends) {
  client_.target("/users/42?q=a+b%21&tags=x&tags=y%20z&secret=1&flag");
  query_allow_ = Allow({"q", "tags", "flag"});
  EXPECT_TRUE((Build(), decoded_query_.empty()));  // only when asked
  decode_query_ = true;
  http::Request req = Build();
  EXPECT_EQ(Str(req.target()), "/api/users/42?q=a+b%21&tags=x&tags=y%20z&flag");
  EXPECT_EQ(decoded_query_, (std::vector<std::pair<std::string, std::string>>{
                                {"q", "a b!"}, {"tags", "x"}, {"tags", "y z"}, {"flag", ""}}));
}

TEST_F(BuildBackendRequestTest, MethodTargetAndVersion) {
  http::Request req = Build("PUT");
  EXPECT_EQ(Str(req.method_string()), "PUT");
  EXPECT_EQ(Str(req.target()), "/api/users/42");
  EXPECT_EQ(req.version(), 11u);
}

TEST_F(BuildBackendRequestTest, ParamsAreEncodedIntoTheTarget) {
  params_ = router::Params{{"id", "a/b?c#d"}};
  EXPECT_EQ(Str(Build().target()), "/api/users/a%2Fb%3Fc%23d");
}

TEST_F(BuildBackendRequestTest, QueryStringsPassOnlyWhenAllowListed) {
  client_.target("/users/42?page=2&secret=x&page=3");
  EXPECT_EQ(Str(Build().target()), "/api/users/42");  // empty list: nothing
  query_allow_ = Allow({"page"});
  EXPECT_EQ(Str(Build().target()), "/api/users/42?page=2&page=3");
  query_allow_ = AllowAll();
  EXPECT_EQ(Str(Build().target()), "/api/users/42?page=2&secret=x&page=3");
  query_allow_ = Allow({"nothing-matches"});
  EXPECT_EQ(Str(Build().target()), "/api/users/42");  // no dangling '?'
}

TEST_F(BuildBackendRequestTest, BackendQueryAllowListFiltersASecondTime) {
  client_.target("/users/42?page=2&sort=asc&secret=x");
  query_allow_ = AllowAll();
  const config::AllowList backend = Allow({"sort", "secret-not-sent"});
  backend_query_allow_ = &backend;
  EXPECT_EQ(Str(Build().target()), "/api/users/42?sort=asc");
  // The backend list cannot widen the endpoint's.
  query_allow_ = Allow({"page"});
  EXPECT_EQ(Str(Build().target()), "/api/users/42");
}

TEST_F(BuildBackendRequestTest, PatternQueryAndForwardedQueryAreJoinedWithAmpersand) {
  url_ = MustCompile("/orders?user={id}&v=1", {"id"});
  client_.target("/users/42?page=2&x=1");
  query_allow_ = Allow({"page"});
  EXPECT_EQ(Str(Build().target()), "/orders?user=42&v=1&page=2");
  client_.target("/users/42");
  EXPECT_EQ(Str(Build().target()), "/orders?user=42&v=1");
}

TEST_F(BuildBackendRequestTest, HeaderAllowListIsCaseInsensitive) {
  header_allow_ = Allow({"authorization", "x-request-id"});  // config stores them lower-case
  client_.set(bhttp::field::authorization, "Bearer t");
  client_.insert("X-REQUEST-ID", "r1");
  client_.insert("x-Request-Id", "r2");
  client_.insert("X-Secret", "s");
  client_.set(bhttp::field::cookie, "c=1");
  http::Request req = Build();
  EXPECT_EQ(Values(req, "Authorization"), std::vector<std::string>{"Bearer t"});
  EXPECT_EQ(Values(req, "X-Request-Id"), (std::vector<std::string>{"r1", "r2"}));
  EXPECT_FALSE(HasHeader(req, "X-Secret"));
  EXPECT_FALSE(HasHeader(req, "Cookie"));
}

TEST_F(BuildBackendRequestTest, NoHeaderListForwardsNoClientHeaders) {
  client_.set(bhttp::field::authorization, "Bearer t");
  client_.set(bhttp::field::user_agent, "curl/8");
  http::Request req = Build();
  EXPECT_FALSE(HasHeader(req, "Authorization"));
  EXPECT_EQ(Values(req, "User-Agent"), std::vector<std::string>{std::string(version::UserAgent())});
  EXPECT_FALSE(HasHeader(req, "X-Forwarded-Via"));
}

TEST_F(BuildBackendRequestTest, BackendHeaderAllowListFiltersASecondTime) {
  header_allow_ = Allow({"authorization", "x-a"});
  const config::AllowList backend = Allow({"x-a", "x-b"});
  backend_header_allow_ = &backend;
  client_.set(bhttp::field::authorization, "Bearer t");
  client_.insert("X-A", "a");
  client_.insert("X-B", "b");
  http::Request req = Build();
  EXPECT_EQ(Values(req, "X-A"), std::vector<std::string>{"a"});
  EXPECT_FALSE(HasHeader(req, "Authorization"));
  EXPECT_FALSE(HasHeader(req, "X-B"));
}

TEST_F(BuildBackendRequestTest, StarKeepsTheClientUserAgentAndAddsXForwardedVia) {
  header_allow_ = AllowAll();
  client_.set(bhttp::field::user_agent, "curl/8");
  client_.insert("X-Custom", "1");
  http::Request req = Build();
  EXPECT_EQ(Values(req, "User-Agent"), std::vector<std::string>{"curl/8"});
  EXPECT_EQ(Values(req, "X-Forwarded-Via"),
            std::vector<std::string>{std::string(version::UserAgent())});
  EXPECT_EQ(Values(req, "X-Custom"), std::vector<std::string>{"1"});
}

TEST_F(BuildBackendRequestTest, WithoutAClientUserAgentTheGatewaySendsItsOwn) {
  header_allow_ = AllowAll();
  http::Request req = Build();
  EXPECT_EQ(Values(req, "User-Agent"), std::vector<std::string>{"Sluice Version 0.1.0"});
  EXPECT_FALSE(HasHeader(req, "X-Forwarded-Via"));
}

TEST_F(BuildBackendRequestTest, HopByHopHeadersAreNeverForwardedEvenWithStar) {
  const std::vector<std::string> hop_by_hop = {"Connection",
                                               "Keep-Alive",
                                               "Proxy-Authenticate",
                                               "Proxy-Authorization",
                                               "Proxy-Connection",
                                               "TE",
                                               "Trailer",
                                               "Transfer-Encoding",
                                               "Upgrade",
                                               "Content-Length",
                                               "Expect",
                                               "HTTP2-Settings"};
  for (const std::string& h : hop_by_hop) client_.insert(h, "client-value");
  client_.insert("X-Ok", "1");

  std::vector<std::string> lower;
  for (const std::string& h : hop_by_hop) {
    std::string l = h;
    for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    lower.push_back(l);
  }
  lower.push_back("host");
  lower.push_back("x-ok");
  for (const config::AllowList& allow : {AllowAll(), Allow(lower)}) {
    header_allow_ = allow;
    http::Request req = Build("POST", "{}");
    for (const std::string& h : hop_by_hop) {
      for (const std::string& v : Values(req, h)) {
        EXPECT_NE(v, "client-value") << h << " forwarded (all=" << allow.all << ")";
      }
    }
    // Host is the backend's business (the client sets it when connecting), never the client's.
    EXPECT_FALSE(HasHeader(req, "Host")) << "all=" << allow.all;
    EXPECT_EQ(Values(req, "X-Ok"), std::vector<std::string>{"1"});
  }
}

TEST_F(BuildBackendRequestTest, HeadersNamedInConnectionAreHopByHop) {
  client_.insert("Connection", "keep-alive, X-Internal ,x-other");
  client_.insert("X-Internal", "secret");
  client_.insert("X-Other", "secret");
  client_.insert("X-Kept", "1");
  header_allow_ = AllowAll();
  http::Request req = Build();
  EXPECT_FALSE(HasHeader(req, "X-Internal"));
  EXPECT_FALSE(HasHeader(req, "X-Other"));
  EXPECT_EQ(Values(req, "X-Kept"), std::vector<std::string>{"1"});
}

TEST_F(BuildBackendRequestTest, XForwardedForAndHostAreAlwaysSetAndCannotBeSpoofed) {
  client_.insert("X-Forwarded-For", "6.6.6.6");
  client_.insert("X-Forwarded-Host", "evil.example");
  for (const config::AllowList& allow :
       {kNone, AllowAll(), Allow({"x-forwarded-for", "x-forwarded-host"})}) {
    header_allow_ = allow;
    http::Request req = Build();
    EXPECT_EQ(Values(req, "X-Forwarded-For"), std::vector<std::string>{"203.0.113.9"});
    EXPECT_EQ(Values(req, "X-Forwarded-Host"), std::vector<std::string>{"gw.example.com"});
  }
}

TEST_F(BuildBackendRequestTest, BodyOnlyForMethodsThatCarryOne) {
  for (const char* method : {"POST", "PUT", "PATCH", "DELETE"}) {
    EXPECT_EQ(Build(method, "payload").body(), "payload") << method;
  }
  for (const char* method : {"GET", "HEAD", "OPTIONS"}) {
    EXPECT_EQ(Build(method, "payload").body(), "") << method;
  }
}

TEST_F(BuildBackendRequestTest, ContentTypeTravelsWithoutBeingAllowListed) {
  client_.set(bhttp::field::content_type, "application/json");
  http::Request req = Build("POST", "{}");
  EXPECT_EQ(Values(req, "Content-Type"), std::vector<std::string>{"application/json"});
}

TEST_F(BuildBackendRequestTest, AcceptEncodingOnlyWhenPassingCompressedBodies) {
  client_.set(bhttp::field::accept_encoding, "gzip");
  header_allow_ = AllowAll();
  EXPECT_FALSE(HasHeader(Build(), "Accept-Encoding"));
  header_allow_ = Allow({"accept-encoding"});
  EXPECT_FALSE(HasHeader(Build(), "Accept-Encoding"));

  pass_accept_encoding_ = true;
  EXPECT_EQ(Values(Build(), "Accept-Encoding"), std::vector<std::string>{"gzip"});
  header_allow_ = AllowAll();
  EXPECT_EQ(Values(Build(), "Accept-Encoding"), std::vector<std::string>{"gzip"});
  // Still subject to the allow-list.
  header_allow_ = Allow({"authorization"});
  EXPECT_FALSE(HasHeader(Build(), "Accept-Encoding"));
}

}  // namespace
}  // namespace sluice::pipeline
