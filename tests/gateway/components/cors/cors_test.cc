// security/cors: its typed config and check errors by JSON path, and the decisions of the
// dispatcher-level Cors on recorded exchanges (the end-to-end behaviour through the binary is in
// tests/integration/access_test.cc).

#include <memory>
#include <string>

#include "gateway/components/registry.h"
#include "gateway/components/security/cors/config.h"
#include "gateway/components/security/cors/cors.h"
#include "gtest/gtest.h"

namespace sluice::components::cors {
namespace {

config::LoadResult Load(const std::string& cors) {
  const std::string file = R"({"version": 3, "extra_config": {"security/cors": )" + cors +
                           R"(}, "endpoints": []})";
  return components::ParseConfig(file, "cors.json",
                                 [](const char*) { return std::optional<std::string>(); });
}

std::shared_ptr<const Config> Parsed(const std::string& cors) {
  config::LoadResult r = Load(cors);
  EXPECT_TRUE(r.errors.empty()) << r.errors[0].path << ": " << r.errors[0].message;
  if (!r.config) return nullptr;
  const Config* c = r.config->components.Get<Config>(kNamespace);
  return c == nullptr ? nullptr : std::shared_ptr<const Config>(r.config, c);
}

// Records the answer the exchange gets.
class Recorder : public http::Exchange {
 public:
  explicit Recorder(http::Request req) : req_(std::move(req)) {}
  const http::Request& request() const override { return req_; }
  http::Request& mutable_request() override { return req_; }
  std::string_view client_ip() const override { return "127.0.0.1"; }
  int worker_index() const override { return 0; }
  boost::asio::io_context& io_context() override { return ioc_; }
  void Respond(http::Response&& res) override {
    ++responses;
    response = std::move(res);
  }
  int responses = 0;
  http::Response response;

 private:
  http::Request req_;
  boost::asio::io_context ioc_;
};

std::string Get(const http::Response& r, const char* name) {
  auto it = r.find(name);
  return it == r.end() ? "<absent>" : std::string(it->value());
}

TEST(CorsConfigTest, KeysParseIntoTheTypedConfig) {
  auto c = Parsed(R"({"allow_origins": ["https://A.example", "http://*.b.example"],
      "allow_methods": ["get", "PUT"], "allow_headers": ["X-Token"],
      "expose_headers": ["x-one", "X-TWO-three"], "max_age": "90s",
      "options_success_status": 200})");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->allow_all_origins);
  EXPECT_EQ(c->origins, std::vector<std::string>{"https://a.example"});
  ASSERT_EQ(c->wildcards.size(), 1u);
  EXPECT_EQ(c->wildcards[0].prefix, "http://");
  EXPECT_EQ(c->wildcards[0].suffix, ".b.example");
  EXPECT_EQ(c->methods, (std::vector<std::string>{"GET", "PUT"}));
  EXPECT_EQ(c->headers, (std::vector<std::string>{"x-token", "origin"}));
  EXPECT_EQ(c->expose_headers, "X-One, X-Two-Three");
  EXPECT_EQ(c->max_age, absl::Seconds(90));
  EXPECT_EQ(c->options_success_status, 200);
}

TEST(CorsConfigTest, AnyStarAllowsEveryOrigin) {
  auto c = Parsed(R"({"allow_origins": ["https://a.example", "*"], "allow_headers": ["*"]})");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->allow_all_origins);
  EXPECT_TRUE(c->allow_all_headers);
  Cors cors(c);
  EXPECT_TRUE(cors.OriginAllowed("https://whatever.example"));
}

TEST(CorsConfigTest, BadKeysAreCheckErrorsByJsonPath) {
  config::LoadResult r = Load(R"({"allow_origins": "https://a.example", "max_age": 600,
      "allow_credentials": "yes please", "options_success_status": 500})");
  std::vector<std::string> paths;
  for (const auto& e : r.errors) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{
                       "extra_config.security/cors.allow_origins",
                       "extra_config.security/cors.max_age",
                       "extra_config.security/cors.allow_credentials",
                       "extra_config.security/cors.options_success_status"}));
}

TEST(CorsConfigTest, CredentialsWithEveryOriginWarn) {
  config::LoadResult r = Load(R"({"allow_credentials": true})");
  EXPECT_TRUE(r.errors.empty());
  bool warned = false;
  for (const auto& w : r.warnings) warned |= w.path.find("allow_credentials") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST(CorsTest, OriginMatchingIsCaseInsensitiveWithOneStar) {
  Cors cors(Parsed(R"({"allow_origins": ["https://app.example", "https://*.corp.example"]})"));
  EXPECT_TRUE(cors.OriginAllowed("HTTPS://APP.EXAMPLE"));
  EXPECT_TRUE(cors.OriginAllowed("https://x.corp.example"));
  EXPECT_FALSE(cors.OriginAllowed("https://corp.example"));
  EXPECT_FALSE(cors.OriginAllowed("https://app.example.evil"));
  EXPECT_FALSE(cors.OriginAllowed("https://x.corp.example.evil"));
  EXPECT_FALSE(cors.OriginAllowed(""));
}

TEST(CorsTest, PreflightIsAnsweredActualRequestsAreWrapped) {
  Cors cors(Parsed(R"({"allow_origins": ["https://app.example"], "max_age": "10m"})"));
  http::Request pre(boost::beast::http::verb::options, "/x", 11);
  pre.set("Origin", "https://app.example");
  pre.set("Access-Control-Request-Method", "GET");
  auto rec = std::make_shared<Recorder>(std::move(pre));
  http::ExchangePtr ex = rec;
  EXPECT_TRUE(cors.Handle(&ex));
  EXPECT_EQ(rec->responses, 1);
  EXPECT_EQ(rec->response.result_int(), 204u);
  EXPECT_EQ(Get(rec->response, "Access-Control-Max-Age"), "600");

  // OPTIONS without Access-Control-Request-Method is not a preflight: it is routed.
  http::Request plain_options(boost::beast::http::verb::options, "/x", 11);
  plain_options.set("Origin", "https://app.example");
  auto rec2 = std::make_shared<Recorder>(std::move(plain_options));
  ex = rec2;
  EXPECT_FALSE(cors.Handle(&ex));
  EXPECT_EQ(rec2->responses, 0);
  http::Response answer(boost::beast::http::status::unauthorized, 11);
  answer.set("Vary", "Accept");
  ex->Respond(std::move(answer));
  EXPECT_EQ(rec2->responses, 1);
  EXPECT_EQ(Get(rec2->response, "Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(rec2->response.count("Vary"), 2u) << "the gateway's Vary is added to the answer's";
}

}  // namespace
}  // namespace sluice::components::cors
