#include "gateway/config/config.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sluice::config {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

std::string TestdataPath(const std::string& name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir ? srcdir : ".") + "/" + (workspace ? workspace : "sluice") +
         "/tests/testdata/config/" + name;
}

// The process environment must not leak into tests.
std::optional<std::string> NoEnv(const char*) { return std::nullopt; }

// A fake environment for the override tests.
std::map<std::string, std::string>& FakeEnvVars() {
  static auto* vars = new std::map<std::string, std::string>();
  return *vars;
}
std::optional<std::string> FakeEnv(const char* name) {
  auto it = FakeEnvVars().find(name);
  if (it == FakeEnvVars().end()) return std::nullopt;
  return it->second;
}

LoadResult Load(const std::string& name) { return LoadConfigFile(TestdataPath(name), &NoEnv); }
LoadResult Parse(const std::string& text) { return ParseConfig(text, "inline.json", &NoEnv); }

std::string Dump(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const Diagnostic& d : ds) out += "  " + d.path + ": " + d.message + "\n";
  return out;
}

bool Has(const std::vector<Diagnostic>& ds, const std::string& path, const std::string& text) {
  for (const Diagnostic& d : ds) {
    if (d.path == path && d.message.find(text) != std::string::npos) return true;
  }
  return false;
}

// Everything in the model except provenance and `version`, for comparing v2 with v3 files.
Json ModelJson(const ServiceConfig& c) {
  auto hosts = [](const std::vector<HostAddress>& hs) {
    Json out = Json::array();
    for (const HostAddress& h : hs) out.push_back({h.scheme, h.host, h.port, h.original});
    return out;
  };
  auto allow = [](const AllowList& l) { return Json{{"all", l.all}, {"names", l.names}}; };
  auto dur = [](absl::Duration d) { return absl::FormatDuration(d); };
  Json eps = Json::array();
  for (const Endpoint& e : c.endpoints) {
    Json bs = Json::array();
    for (const Backend& b : e.backends) {
      bs.push_back(
          {{"json_path", b.json_path},
           {"hosts", hosts(b.hosts)},
           {"url_pattern", b.url_pattern},
           {"method", b.method},
           {"encoding", std::string(ToString(b.encoding))},
           {"sd", b.sd},
           {"sd_scheme", b.sd_scheme},
           {"is_collection", b.is_collection},
           {"disable_host_sanitize", b.disable_host_sanitize},
           {"target", b.target},
           {"group", b.group},
           {"allow", b.allow},
           {"deny", b.deny},
           {"mapping", b.mapping},
           {"input_headers", b.input_headers ? allow(*b.input_headers) : Json()},
           {"input_query_strings", b.input_query_strings ? allow(*b.input_query_strings) : Json()},
           {"extra_config", b.extra_config}});
    }
    eps.push_back({{"json_path", e.json_path},
                   {"path", e.path},
                   {"method", e.method},
                   {"backends", bs},
                   {"concurrent_calls", e.concurrent_calls},
                   {"timeout", dur(e.timeout)},
                   {"cache_ttl", dur(e.cache_ttl)},
                   {"input_query_strings", allow(e.input_query_strings)},
                   {"input_headers", allow(e.input_headers)},
                   {"output_encoding", std::string(ToString(e.output_encoding))},
                   {"params", e.params},
                   {"extra_config", e.extra_config}});
  }
  return {{"name", c.name},
          {"port", c.port},
          {"listen_ip", c.listen_ip},
          {"host", hosts(c.host)},
          {"timeout", dur(c.timeout)},
          {"cache_ttl", dur(c.cache_ttl)},
          {"output_encoding", std::string(ToString(c.output_encoding))},
          {"read_timeout", dur(c.read_timeout)},
          {"write_timeout", dur(c.write_timeout)},
          {"idle_timeout", dur(c.idle_timeout)},
          {"read_header_timeout", dur(c.read_header_timeout)},
          {"max_header_bytes", c.max_header_bytes},
          {"max_shutdown_wait_time", dur(c.max_shutdown_wait_time)},
          {"debug_endpoint", c.debug_endpoint},
          {"logging", {c.logging.level, c.logging.access_log}},
          {"tuning", {c.tuning.workers, c.tuning.max_body_bytes}},
          {"extra_config", c.extra_config},
          {"endpoints", eps}};
}

// ----- good files ------------------------------------------------------------------------------

TEST(ConfigTest, GoodV3FileBuildsTheModel) {
  LoadResult r = Load("good_v3.json");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  ASSERT_NE(r.config, nullptr);
  EXPECT_TRUE(r.lint.empty()) << Dump(r.lint);
  const ServiceConfig& c = *r.config;
  EXPECT_EQ(c.version, 3);
  EXPECT_EQ(c.name, "Sluice demo");
  EXPECT_EQ(c.port, 9090);
  EXPECT_EQ(c.listen_ip, "127.0.0.1");
  ASSERT_EQ(c.host.size(), 1u);
  EXPECT_EQ(c.host[0].host, "127.0.0.1");
  EXPECT_EQ(c.host[0].port, 8080);
  EXPECT_EQ(c.timeout, absl::Seconds(3));
  EXPECT_EQ(c.read_timeout, absl::Seconds(15));
  EXPECT_EQ(c.write_timeout, absl::Seconds(20));
  EXPECT_EQ(c.idle_timeout, absl::Minutes(1));
  EXPECT_EQ(c.read_header_timeout, absl::Seconds(5));
  EXPECT_EQ(c.max_header_bytes, 65536u);
  EXPECT_EQ(c.max_shutdown_wait_time, absl::Seconds(10));
  EXPECT_TRUE(c.debug_endpoint);
  EXPECT_EQ(c.logging.level, "DEBUG");
  EXPECT_FALSE(c.logging.access_log);
  EXPECT_EQ(c.tuning.workers, 4);
  EXPECT_EQ(c.tuning.max_body_bytes, 1048576u);
  EXPECT_TRUE(c.extra_config.contains("security/cors"));

  ASSERT_EQ(c.endpoints.size(), 3u);
  const Endpoint& users = c.endpoints[0];
  EXPECT_EQ(users.json_path, "endpoints[0]");
  EXPECT_EQ(users.method, "GET");
  EXPECT_EQ(users.path, "/users/{id}");
  EXPECT_EQ(users.params, std::vector<std::string>{"id"});
  EXPECT_EQ(users.timeout, absl::Milliseconds(1500));
  EXPECT_EQ(users.cache_ttl, absl::Minutes(5));
  EXPECT_EQ(users.input_query_strings.names, (std::vector<std::string>{"page", "Sort"}));
  EXPECT_EQ(users.input_headers.names, (std::vector<std::string>{"authorization", "x-request-id"}));
  EXPECT_FALSE(users.input_headers.all);
  EXPECT_EQ(users.extra_config["qos/ratelimit/router"]["max_rate"], 50);
  ASSERT_EQ(users.backends.size(), 2u);

  const Backend& b0 = users.backends[0];
  EXPECT_EQ(b0.json_path, "endpoints[0].backend[0]");
  ASSERT_EQ(b0.hosts.size(), 1u);  // inherited from the service
  EXPECT_EQ(b0.hosts[0].original, "http://127.0.0.1:8080");
  EXPECT_EQ(b0.method, "GET");  // the endpoint's
  EXPECT_EQ(b0.encoding, BackendEncoding::kJson);
  EXPECT_EQ(b0.group, "user");
  EXPECT_EQ(b0.target, "data");
  EXPECT_EQ(b0.allow, (std::vector<std::string>{"name", "address.city"}));
  EXPECT_EQ(b0.mapping.at("name"), "full_name");
  EXPECT_FALSE(b0.input_headers.has_value());
  EXPECT_TRUE(b0.extra_config.contains("qos/circuit-breaker"));

  const Backend& b1 = users.backends[1];
  ASSERT_EQ(b1.hosts.size(), 2u);
  EXPECT_EQ(b1.hosts[0].scheme, "https");
  EXPECT_EQ(b1.hosts[0].host, "orders.example.com");
  EXPECT_EQ(b1.hosts[0].port, 443);
  EXPECT_EQ(b1.hosts[1].host, "::1");
  EXPECT_EQ(b1.hosts[1].port, 9001);
  EXPECT_EQ(b1.url_pattern, "/orders?user={id}");  // a leading '/' is added, as Lura does
  EXPECT_EQ(b1.method, "POST");
  EXPECT_EQ(b1.encoding, BackendEncoding::kSafeJson);
  EXPECT_EQ(b1.deny, (std::vector<std::string>{"internal", "audit.trail"}));
  EXPECT_TRUE(b1.is_collection);

  const Endpoint& raw = c.endpoints[1];
  EXPECT_EQ(raw.method, "PUT");
  EXPECT_EQ(raw.output_encoding, OutputEncoding::kNoOp);
  EXPECT_EQ(raw.concurrent_calls, 2);
  EXPECT_EQ(raw.timeout, absl::Seconds(3));  // inherited
  EXPECT_TRUE(raw.input_headers.all);
  EXPECT_TRUE(raw.input_query_strings.all);
  ASSERT_EQ(raw.backends.size(), 1u);
  EXPECT_EQ(raw.backends[0].encoding, BackendEncoding::kNoOp);  // forced by the endpoint
  EXPECT_EQ(raw.backends[0].method, "PUT");

  const Endpoint& search = c.endpoints[2];
  EXPECT_EQ(search.output_encoding, OutputEncoding::kString);
  EXPECT_TRUE(search.params.empty());
  EXPECT_EQ(search.backends[0].encoding, BackendEncoding::kString);
}

TEST(ConfigTest, V2FileYieldsTheSameModelAsTheEquivalentV3File) {
  LoadResult v3 = Load("good_v3.json");
  LoadResult v2 = Load("good_v2.json");
  ASSERT_TRUE(v3.errors.empty()) << Dump(v3.errors);
  ASSERT_TRUE(v2.errors.empty()) << Dump(v2.errors);
  EXPECT_TRUE(v2.lint.empty()) << Dump(v2.lint);
  EXPECT_EQ(v2.config->version, 2);
  EXPECT_EQ(v3.config->version, 3);
  // The renamed pieces actually carry content (not equal because both are empty).
  EXPECT_EQ(v2.config->logging.level, "DEBUG");
  EXPECT_TRUE(v2.config->extra_config.contains("telemetry/metrics"));
  EXPECT_TRUE(v2.config->endpoints[0].backends[1].extra_config.contains("qos/http-cache"));
  EXPECT_EQ(v2.config->endpoints[0].backends[0].allow.size(), 2u);
  EXPECT_EQ(ModelJson(*v2.config).dump(2), ModelJson(*v3.config).dump(2));
}

TEST(ConfigTest, CommentKeysAtEveryLevelProduceNothing) {
  LoadResult r = Load("comments.json");
  EXPECT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_TRUE(r.lint.empty()) << Dump(r.lint);
  ASSERT_NE(r.config, nullptr);
  EXPECT_EQ(r.config->endpoints[0].backends[0].url_pattern, "/users");
}

TEST(ConfigTest, DefaultsForAMinimalFile) {
  LoadResult r = Parse(R"({"version": 3, "host": ["localhost"],
      "endpoints": [{"endpoint": "/x", "backend": [{"url_pattern": "/y"}]}]})");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  const ServiceConfig& c = *r.config;
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.timeout, absl::Seconds(2));
  EXPECT_EQ(c.cache_ttl, absl::ZeroDuration());
  EXPECT_EQ(c.read_header_timeout, absl::Seconds(10));
  EXPECT_EQ(c.logging.level, "INFO");
  EXPECT_TRUE(c.logging.access_log);
  EXPECT_EQ(c.tuning.workers, 0);
  EXPECT_EQ(c.tuning.max_body_bytes, 10u * 1024 * 1024);
  const Endpoint& e = c.endpoints[0];
  EXPECT_EQ(e.method, "GET");
  EXPECT_EQ(e.concurrent_calls, 1);
  EXPECT_EQ(e.timeout, absl::Seconds(2));
  EXPECT_EQ(e.output_encoding, OutputEncoding::kJson);
  EXPECT_TRUE(e.input_headers.empty());
  EXPECT_EQ(e.backends[0].hosts[0].host, "localhost");
  EXPECT_EQ(e.backends[0].hosts[0].port, 80);
  EXPECT_EQ(e.backends[0].sd, "static");
}

TEST(ConfigTest, ServiceOutputEncodingAndCacheTtlAreInherited) {
  LoadResult r = Parse(R"({"version": 3, "host": ["localhost"], "output_encoding": "no-op",
      "cache_ttl": "1m", "endpoints": [
        {"endpoint": "/x", "backend": [{"url_pattern": "/y", "encoding": "json"}]},
        {"endpoint": "/z", "output_encoding": "json", "cache_ttl": "5s",
         "backend": [{"url_pattern": "/y"}]}]})");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  const auto& eps = r.config->endpoints;
  EXPECT_EQ(eps[0].output_encoding, OutputEncoding::kNoOp);
  EXPECT_EQ(eps[0].backends[0].encoding, BackendEncoding::kNoOp);
  EXPECT_EQ(eps[0].cache_ttl, absl::Minutes(1));
  EXPECT_EQ(eps[1].output_encoding, OutputEncoding::kJson);
  EXPECT_EQ(eps[1].cache_ttl, absl::Seconds(5));
}

TEST(ConfigTest, BackendSecondLevelFiltersInV3) {
  LoadResult r = Parse(R"({"version": 3, "host": ["localhost"], "endpoints": [
      {"endpoint": "/x", "input_headers": ["*"], "backend": [
        {"url_pattern": "/y", "input_headers": ["X-Token"], "input_query_strings": ["Q"]}]}]})");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  const Backend& b = r.config->endpoints[0].backends[0];
  ASSERT_TRUE(b.input_headers.has_value());
  EXPECT_EQ(b.input_headers->names, std::vector<std::string>{"x-token"});
  ASSERT_TRUE(b.input_query_strings.has_value());
  EXPECT_EQ(b.input_query_strings->names, std::vector<std::string>{"Q"});
}

TEST(ConfigTest, V2CacheTtlAcceptsIntegerSecondsAndDurationStrings) {
  LoadResult r = Parse(R"({"version": 2, "host": ["localhost"], "endpoints": [
      {"endpoint": "/a", "cache_ttl": 60, "backend": [{"url_pattern": "/a"}]},
      {"endpoint": "/b", "cache_ttl": "90s", "backend": [{"url_pattern": "/b"}]}]})");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_EQ(r.config->endpoints[0].cache_ttl, absl::Seconds(60));
  EXPECT_EQ(r.config->endpoints[1].cache_ttl, absl::Seconds(90));

  LoadResult v3 = Parse(R"({"version": 3, "host": ["localhost"], "endpoints": [
      {"endpoint": "/a", "cache_ttl": 60, "backend": [{"url_pattern": "/a"}]}]})");
  EXPECT_TRUE(Has(v3.errors, "endpoints[0].cache_ttl", "expected a duration string, got integer"))
      << Dump(v3.errors);
}

TEST(ConfigTest, OldNamespacesAreRenamedInBothSpellings) {
  LoadResult r = Parse(R"({"version": 2, "host": ["localhost"],
      "extra_config": {"github.com/devopsfaith/krakend-gologging": {"level": "error"},
                       "github_com/devopsfaith/krakend-cors": {}},
      "endpoints": [{"endpoint": "/a", "extra_config": {
          "github_com/devopsfaith/krakend-ratelimit/juju/router": {"max_rate": 1}},
        "backend": [{"url_pattern": "/a", "extra_config": {
          "github.com/devopsfaith/krakend/http": {}, "github_com/devopsfaith/krakend/proxy": {},
          "backend/grpc": {"x": 1}}}]}]})");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  const ServiceConfig& c = *r.config;
  EXPECT_EQ(c.logging.level, "ERROR");
  EXPECT_TRUE(c.extra_config.contains("security/cors"));
  EXPECT_FALSE(c.extra_config.contains("github_com/devopsfaith/krakend-cors"));
  EXPECT_TRUE(c.endpoints[0].extra_config.contains("qos/ratelimit/router"));
  const Json& b = c.endpoints[0].backends[0].extra_config;
  EXPECT_TRUE(b.contains("backend/http"));
  EXPECT_TRUE(b.contains("proxy"));
  EXPECT_EQ(b["backend/grpc"]["x"], 1);  // unknown namespaces are kept as they are
}

TEST(ConfigTest, SameComponentUnderOldAndNewNameIsAnError) {
  LoadResult r = Parse(R"({"version": 3, "host": ["localhost"], "extra_config": {
      "telemetry/logging": {"level": "INFO"},
      "github_com/devopsfaith/krakend-gologging": {"level": "DEBUG"}}, "endpoints": []})");
  ASSERT_EQ(r.errors.size(), 1u) << Dump(r.errors);
  EXPECT_THAT(r.errors[0].path, HasSubstr("extra_config."));
  EXPECT_THAT(r.errors[0].message, HasSubstr("telemetry/logging"));
}

TEST(ConfigTest, LogLevelErrorNamesTheNamespaceAsWritten) {
  LoadResult r = Parse(R"({"version": 2, "host": ["localhost"], "extra_config": {
      "github_com/devopsfaith/krakend-gologging": {"level": "loud"}}, "endpoints": []})");
  EXPECT_TRUE(Has(r.errors, "extra_config.github_com/devopsfaith/krakend-gologging.level",
                  "unknown log level \"loud\""))
      << Dump(r.errors);
}

TEST(ConfigTest, SluiceHttpNamespaceIsValidated) {
  LoadResult r = Parse(R"({"version": 3, "host": ["localhost"], "extra_config": {
      "sluice/http": {"workers": -1, "max_body_bytes": 0}}, "endpoints": []})");
  EXPECT_TRUE(Has(r.errors, "extra_config.sluice/http.workers", "between 0")) << Dump(r.errors);
  EXPECT_TRUE(Has(r.errors, "extra_config.sluice/http.max_body_bytes", "positive"))
      << Dump(r.errors);
}

TEST(ConfigTest, MaxConnectionsIsRangeChecked) {
  for (const char* bad : {"0", "-5", "16777217", "\"many\"", "1.5"}) {
    LoadResult r = Parse(absl::StrCat(R"({"version": 3, "extra_config": {
        "sluice/http": {"max_connections": )",
                                      bad, R"(}}, "endpoints": []})"));
    EXPECT_TRUE(Has(r.errors, "extra_config.sluice/http.max_connections", "")) << bad;
  }
  LoadResult ok = Parse(R"({"version": 3, "extra_config": {
      "sluice/http": {"max_connections": 5000}}, "endpoints": []})");
  ASSERT_TRUE(ok.errors.empty()) << Dump(ok.errors);
  EXPECT_EQ(ok.config->tuning.max_connections, 5000);
  LoadResult unset = Parse(R"({"version": 3, "endpoints": []})");
  ASSERT_TRUE(unset.errors.empty()) << Dump(unset.errors);
  EXPECT_EQ(unset.config->tuning.max_connections, 0);  // derived from RLIMIT_NOFILE at start
}

TEST(ConfigTest, MaxBufferedRequestBytesHoldsOneLargestRequest) {
  for (const char* bad : {"0", "1048575", "1099511627777", "\"lots\""}) {
    LoadResult r = Parse(absl::StrCat(R"({"version": 3, "extra_config": {
        "sluice/http": {"max_buffered_request_bytes": )",
                                      bad, R"(}}, "endpoints": []})"));
    EXPECT_TRUE(Has(r.errors, "extra_config.sluice/http.max_buffered_request_bytes", "")) << bad;
  }
  // Below max_header_bytes + max_body_bytes a largest request could never be accepted.
  LoadResult small = Parse(R"({"version": 3, "max_header_bytes": 1048576, "extra_config": {
      "sluice/http": {"max_body_bytes": 4194304, "max_buffered_request_bytes": 4194304}},
      "endpoints": []})");
  EXPECT_TRUE(Has(small.errors, "extra_config.sluice/http.max_buffered_request_bytes",
                  "at least one largest request"))
      << Dump(small.errors);
  LoadResult ok = Parse(R"({"version": 3, "extra_config": {
      "sluice/http": {"max_buffered_request_bytes": 67108864}}, "endpoints": []})");
  ASSERT_TRUE(ok.errors.empty()) << Dump(ok.errors);
  EXPECT_EQ(ok.config->tuning.max_buffered_request_bytes, 67108864u);
}

TEST(ConfigTest, ShutdownWaitDefaultsToTheLongestEndpointTimeoutPlusGrace) {
  LoadResult small = Parse(R"({"version": 3, "host": ["localhost"], "timeout": "1s",
      "endpoints": [{"endpoint": "/x", "backend": [{"url_pattern": "/y"}]}]})");
  ASSERT_TRUE(small.errors.empty()) << Dump(small.errors);
  EXPECT_EQ(small.config->max_shutdown_wait_time, absl::Seconds(10));  // at least 10 s
  LoadResult slow = Parse(R"({"version": 3, "host": ["localhost"], "max_shutdown_wait_time": "0s",
      "endpoints": [{"endpoint": "/x", "timeout": "30s", "backend": [{"url_pattern": "/y"}]},
                    {"endpoint": "/z", "backend": [{"url_pattern": "/y"}]}]})");
  ASSERT_TRUE(slow.errors.empty()) << Dump(slow.errors);
  EXPECT_EQ(slow.config->max_shutdown_wait_time, absl::Seconds(35));
  LoadResult set = Parse(R"({"version": 3, "max_shutdown_wait_time": "3s", "endpoints": []})");
  ASSERT_TRUE(set.errors.empty()) << Dump(set.errors);
  EXPECT_EQ(set.config->max_shutdown_wait_time, absl::Seconds(3));
}

// ----- bad files: one rule each ----------------------------------------------------------------

struct BadFile {
  const char* file;
  const char* path;
  const char* message;
};

class BadFileTest : public ::testing::TestWithParam<BadFile> {};

TEST_P(BadFileTest, ReportsExactlyOneErrorAtThePath) {
  const BadFile& p = GetParam();
  LoadResult r = Load(p.file);
  EXPECT_EQ(r.config, nullptr);
  ASSERT_EQ(r.errors.size(), 1u) << Dump(r.errors);
  EXPECT_EQ(r.errors[0].path, p.path);
  EXPECT_THAT(r.errors[0].message, HasSubstr(p.message));
}

INSTANTIATE_TEST_SUITE_P(
    Rules, BadFileTest,
    ::testing::Values(
        BadFile{"bad_version.json", "version", "unsupported version 4"},
        BadFile{"bad_duration.json", "endpoints[0].timeout",
                R"(malformed duration "2x" (use Go syntax such as "2s", "1500ms"))"},
        BadFile{"bad_url_param.json", "endpoints[0].backend[2].url_pattern",
                R"({name} is not a parameter of endpoint "/users/{id}")"},
        BadFile{"bad_sequential.json", "endpoints[0].backend[1].url_pattern",
                "{resp0_order_id} needs extra_config.proxy.sequential: true on the endpoint"},
        BadFile{"bad_reserved.json", "endpoints[0].endpoint", "reserved"},
        BadFile{"bad_param_segment.json", "endpoints[0].endpoint", "whole segment {name}"},
        BadFile{"bad_duplicate.json", "endpoints[2]",
                "duplicate endpoint GET /users/{id}: endpoints[0] already serves"},
        BadFile{"bad_noop.json", "endpoints[0]", "no-op proxies exactly one backend, found 2"},
        BadFile{"bad_empty_backend.json", "endpoints[0].backend", "empty"},
        BadFile{"bad_missing_backend.json", "endpoints[0].backend", "missing"},
        BadFile{"bad_type.json", "port", "expected an integer, got string"},
        BadFile{"bad_port.json", "port", "70000 out of range"},
        BadFile{"bad_concurrent.json", "endpoints[0].concurrent_calls", "at least 1"},
        BadFile{"bad_no_host.json", "endpoints[0].backend[1]", "no host"},
        BadFile{"bad_host.json", "host[1]", "bad host \"not a host!\""},
        BadFile{"bad_log_level.json", "extra_config.telemetry/logging.level",
                "unknown log level \"verbose\""}),
    [](const ::testing::TestParamInfo<BadFile>& info) {
      std::string name = info.param.file;
      name = name.substr(0, name.find('.'));
      for (char& ch : name) {
        if (ch == '-') ch = '_';
      }
      return name;
    });

TEST(ConfigTest, ReportsAllErrorsOfAFileWithSeveral) {
  LoadResult r = Load("bad_many.json");
  EXPECT_EQ(r.config, nullptr);
  EXPECT_TRUE(Has(r.errors, "port", "expected an integer, got string"));
  EXPECT_TRUE(Has(r.errors, "timeout", "malformed duration \"2x\""));
  EXPECT_TRUE(Has(r.errors, "host[0]", "invalid port \"99999\""));
  EXPECT_TRUE(Has(r.errors, "endpoints[1].method", "unsupported method \"FETCH\""));
  EXPECT_TRUE(Has(r.errors, "endpoints[1].concurrent_calls", "at least 1"));
  EXPECT_TRUE(Has(r.errors, "endpoints[1].backend[0].url_pattern", "{idx}"));
  EXPECT_TRUE(Has(r.errors, "endpoints[2].backend", "empty"));
  // Nothing else: in particular no "no host" noise for backends when the service host is bad.
  // (An endpoint without '/' and an unknown encoding load as KrakenD loads them: lint.)
  EXPECT_EQ(r.errors.size(), 7u) << Dump(r.errors);
  EXPECT_TRUE(Has(r.lint, "endpoints[0].endpoint", "is served as"));
  EXPECT_TRUE(Has(r.lint, "endpoints[1].backend[0].encoding", "decoded as json"));
}

TEST(ConfigTest, SyntaxErrorNamesLineAndColumn) {
  LoadResult r = Load("syntax_error.json");
  EXPECT_EQ(r.config, nullptr);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].path, "");
  // Line 4 is `    {"endpoint": "/a" "backend": []}`; the parser stops after `"backend"`.
  EXPECT_THAT(r.errors[0].message, HasSubstr("line 4, column 31"));
  EXPECT_THAT(r.errors[0].message, HasSubstr("unexpected string literal"));
}

TEST(ConfigTest, SyntaxErrorOnTheFirstLineAndEmptyInput) {
  LoadResult r = Parse("{\"version\": 3,,}");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].message, HasSubstr("line 1, column 15"));
  LoadResult empty = Parse("");
  ASSERT_EQ(empty.errors.size(), 1u);
  EXPECT_THAT(empty.errors[0].message, HasSubstr("line 1, column 1"));
}

TEST(ConfigTest, TopLevelMustBeAnObject) {
  LoadResult r = Parse("[1, 2]");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].message, HasSubstr("must be a JSON object, got array"));
}

TEST(ConfigTest, MissingAndNonIntegerVersion) {
  EXPECT_TRUE(Has(Parse(R"({"endpoints": []})").errors, "version", "missing"));
  EXPECT_TRUE(
      Has(Parse(R"({"version": "three"})").errors, "version", "expected an integer, got string"));
  EXPECT_TRUE(Has(Parse(R"({"version": 1})").errors, "version", "unsupported version 1"));
}

struct TypeCase {
  const char* json;
  const char* path;
  const char* message;
};

TEST(ConfigTest, WrongJsonTypesNameThePathAndBothTypes) {
  const TypeCase cases[] = {
      {R"({"version": 3, "timeout": 5})", "timeout", "expected a duration string, got integer"},
      {R"({"version": 3, "debug_endpoint": "yes"})", "debug_endpoint",
       "expected a boolean, got string"},
      {R"({"version": 3, "name": 7})", "name", "expected a string, got integer"},
      {R"({"version": 3, "port": 80.5})", "port", "expected an integer, got number"},
      {R"({"version": 3, "host": "localhost"})", "host",
       "expected an array of strings, got string"},
      {R"({"version": 3, "host": [1]})", "host[0]", "expected a string, got integer"},
      {R"({"version": 3, "endpoints": {}})", "endpoints", "expected an array, got object"},
      {R"({"version": 3, "endpoints": [5]})", "endpoints[0]", "expected an object, got integer"},
      {R"({"version": 3, "extra_config": []})", "extra_config", "expected an object, got array"},
      {R"({"version": 3, "extra_config": {"telemetry/logging": "x"}})",
       "extra_config.telemetry/logging", "expected an object, got string"},
      {R"({"version": 3, "extra_config": {"router": {"disable_access_log": 1}}})",
       "extra_config.router.disable_access_log", "expected a boolean, got integer"},
      {R"({"version": 3, "host": ["h"], "endpoints": [{"endpoint": "/a", "input_headers": "x",
          "backend": [{"url_pattern": "/a"}]}]})",
       "endpoints[0].input_headers", "expected an array of strings, got string"},
      {R"({"version": 3, "host": ["h"], "endpoints": [{"endpoint": "/a",
          "input_query_strings": ["a", true], "backend": [{"url_pattern": "/a"}]}]})",
       "endpoints[0].input_query_strings[1]", "expected a string, got boolean"},
      {R"({"version": 3, "host": ["h"], "endpoints": [{"endpoint": "/a", "backend": "x"}]})",
       "endpoints[0].backend", "expected an array, got string"},
      {R"({"version": 3, "host": ["h"], "endpoints": [{"endpoint": "/a", "backend": [[]]}]})",
       "endpoints[0].backend[0]", "expected an object, got array"},
      {R"({"version": 3, "host": ["h"], "endpoints": [{"endpoint": "/a",
          "backend": [{"url_pattern": "/a", "mapping": {"a": 1}}]}]})",
       "endpoints[0].backend[0].mapping.a", "expected a string, got integer"},
      {R"({"version": 3, "host": ["h"], "endpoints": [{"endpoint": "/a",
          "backend": [{"url_pattern": "/a", "is_collection": "yes"}]}]})",
       "endpoints[0].backend[0].is_collection", "expected a boolean, got string"},
      {R"({"version": 3, "host": ["h"], "endpoints": [{"endpoint": 1,
          "backend": [{"url_pattern": "/a"}]}]})",
       "endpoints[0].endpoint", "expected a string, got integer"},
      {R"({"version": 3, "host": ["h"], "endpoints": [{"endpoint": "/a",
          "backend": [{"url_pattern": ["/a"]}]}]})",
       "endpoints[0].backend[0].url_pattern", "expected a string, got array"},
  };
  for (const TypeCase& c : cases) {
    LoadResult r = Parse(c.json);
    EXPECT_EQ(r.config, nullptr) << c.json;
    EXPECT_TRUE(Has(r.errors, c.path, c.message)) << c.json << "\n" << Dump(r.errors);
  }
}

TEST(ConfigTest, NullCountsAsAbsent) {
  LoadResult r = Parse(R"({"version": 3, "name": null, "host": ["h"], "endpoints": [
      {"endpoint": "/a", "timeout": null, "backend": [{"url_pattern": "/a", "host": null}]}]})");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_EQ(r.config->endpoints[0].timeout, absl::Seconds(2));
}

TEST(ConfigTest, EveryReservedPathIsRejected) {
  for (const char* path : {"/__health", "/__health/x", "/__debug", "/__debug/", "/__echo/a/b"}) {
    LoadResult r =
        Parse(std::string(R"({"version": 3, "host": ["h"], "endpoints": [{"endpoint": ")") + path +
              R"(", "backend": [{"url_pattern": "/a"}]}]})");
    EXPECT_TRUE(Has(r.errors, "endpoints[0].endpoint", "reserved")) << path << Dump(r.errors);
  }
  LoadResult ok = Parse(R"({"version": 3, "host": ["h"], "endpoints": [
      {"endpoint": "/__healthy", "backend": [{"url_pattern": "/a"}]}]})");
  EXPECT_TRUE(ok.errors.empty()) << Dump(ok.errors);
}

TEST(ConfigTest, PathParametersAreCollectedInOrderAndChecked) {
  LoadResult r = Parse(R"({"version": 3, "host": ["h"], "endpoints": [
      {"endpoint": "/a/{first}/b/{second-2}/{third_3}", "backend": [
        {"url_pattern": "/x/{third_3}/{first}?s={second-2}"}]}]})");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_EQ(r.config->endpoints[0].params,
            (std::vector<std::string>{"first", "second-2", "third_3"}));

  for (const char* bad : {"/a/{}", "/a/{x.y}", "/a/x{id}", "/a/{id", "/a/id}"}) {
    LoadResult b =
        Parse(std::string(R"({"version": 3, "host": ["h"], "endpoints": [{"endpoint": ")") + bad +
              R"(", "backend": [{"url_pattern": "/a"}]}]})");
    EXPECT_TRUE(Has(b.errors, "endpoints[0].endpoint", "whole segment")) << bad << Dump(b.errors);
  }
  LoadResult twice = Parse(R"({"version": 3, "host": ["h"], "endpoints": [
      {"endpoint": "/a/{id}/{id}", "backend": [{"url_pattern": "/a"}]}]})");
  EXPECT_TRUE(Has(twice.errors, "endpoints[0].endpoint", "appears twice")) << Dump(twice.errors);
}

TEST(ConfigTest, DuplicateRouteShapesDifferingOnlyInParamNamesCollide) {
  LoadResult r = Parse(R"({"version": 3, "host": ["h"], "endpoints": [
      {"endpoint": "/u/{id}", "backend": [{"url_pattern": "/a"}]},
      {"endpoint": "/u/{name}", "backend": [{"url_pattern": "/a"}]}]})");
  EXPECT_TRUE(Has(r.errors, "endpoints[1]", "endpoints[0] already serves GET /u/{id}"))
      << Dump(r.errors);
}

TEST(ConfigTest, BackendMethodAndHeadOptionsAreAccepted) {
  LoadResult r = Parse(R"({"version": 3, "host": ["h"], "endpoints": [
      {"endpoint": "/a", "method": "head", "backend": [{"url_pattern": "/a"}]},
      {"endpoint": "/a", "method": "OPTIONS", "backend": [{"url_pattern": "/a", "method": "delete"}]}]})");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_EQ(r.config->endpoints[0].method, "HEAD");
  EXPECT_EQ(r.config->endpoints[1].backends[0].method, "DELETE");
}

// ----- hosts -----------------------------------------------------------------------------------

TEST(ConfigTest, HostForms) {
  struct Case {
    const char* text;
    const char* scheme;
    const char* host;
    int port;
  };
  const Case cases[] = {
      {"http://127.0.0.1:8080", "http", "127.0.0.1", 8080},
      {"127.0.0.1:8080", "http", "127.0.0.1", 8080},
      {"localhost", "http", "localhost", 80},
      {"https://x", "https", "x", 443},
      {"HTTPS://api.example.com:8443/", "https", "api.example.com", 8443},
      {"[::1]:8080", "http", "::1", 8080},
      {"http://[2001:db8::1]", "http", "2001:db8::1", 80},
      {"my_service.internal", "http", "my_service.internal", 80},
  };
  for (const Case& c : cases) {
    LoadResult r =
        Parse(std::string(R"({"version": 3, "host": [")") + c.text + R"("], "endpoints": []})");
    ASSERT_TRUE(r.errors.empty()) << c.text << Dump(r.errors);
    ASSERT_EQ(r.config->host.size(), 1u);
    const HostAddress& h = r.config->host[0];
    EXPECT_EQ(h.scheme, c.scheme) << c.text;
    EXPECT_EQ(h.host, c.host) << c.text;
    EXPECT_EQ(h.port, c.port) << c.text;
    EXPECT_EQ(h.original, c.text);
  }
}

TEST(ConfigTest, BadHostsAreErrorsNamingTheirPath) {
  struct Case {
    const char* text;
    const char* why;
  };
  const Case cases[] = {
      {"", "no host name"},
      {"http://", "no host name"},
      {"garbage here", "invalid host name"},
      {"localhost:0", "invalid port \"0\""},
      {"localhost:65536", "invalid port \"65536\""},
      {"localhost:80a", "invalid port"},
      {"localhost:", "invalid port"},
      {"ftp://files", "unsupported scheme \"ftp\""},
      {"::1", "must be in brackets"},
      {"[::1", "unclosed '['"},
      {"[nothex]:80", "invalid IPv6 address"},
      {"[::1]x", "after ']'"},
      {"http://h/api", "must not contain a path"},
  };
  for (const Case& c : cases) {
    LoadResult r = Parse(std::string(R"({"version": 3, "host": ["localhost"], "endpoints": [
        {"endpoint": "/a", "backend": [{"url_pattern": "/a", "host": ["ok:1", ")") +
                         c.text + R"("]}]}]})");
    EXPECT_EQ(r.config, nullptr) << c.text;
    EXPECT_TRUE(Has(r.errors, "endpoints[0].backend[0].host[1]", c.why)) << c.text << "\n"
                                                                         << Dump(r.errors);
  }
}

// ----- environment overrides -------------------------------------------------------------------

class EnvOverrideTest : public ::testing::Test {
 protected:
  void SetUp() override { FakeEnvVars().clear(); }
  void TearDown() override { FakeEnvVars().clear(); }
  LoadResult ParseWithEnv(const std::string& text) {
    return ParseConfig(text, "env.json", &FakeEnv);
  }
  const std::string file_ = R"({"version": 3, "name": "file", "port": 8000, "timeout": "1s",
      "host": ["h"], "endpoints": [
        {"endpoint": "/a", "backend": [{"url_pattern": "/a"}]},
        {"endpoint": "/b", "timeout": "5s", "backend": [{"url_pattern": "/b"}]}]})";
};

TEST_F(EnvOverrideTest, OverridesReplaceFileValuesAndShowInEffective) {
  FakeEnvVars() = {
      {"SLUICE_NAME", "from-env"}, {"SLUICE_PORT", "9123"}, {"SLUICE_TIMEOUT", "750ms"}};
  LoadResult r = ParseWithEnv(file_);
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  const ServiceConfig& c = *r.config;
  EXPECT_EQ(c.name, "from-env");
  EXPECT_EQ(c.port, 9123);
  EXPECT_EQ(c.timeout, absl::Milliseconds(750));
  EXPECT_EQ(c.endpoints[0].timeout, absl::Milliseconds(750));  // inherits the override
  EXPECT_EQ(c.endpoints[1].timeout, absl::Seconds(5));         // its own value wins
  const Json effective = c.effective();
  EXPECT_EQ(effective["name"], "from-env");
  EXPECT_EQ(effective["port"], 9123);
  EXPECT_EQ(effective["timeout"], "750ms");
  EXPECT_EQ(effective["endpoints"].size(), 2u);
  // The sha256 stays the file's.
  FakeEnvVars().clear();
  EXPECT_EQ(c.sha256_hex, ParseWithEnv(file_).config->sha256_hex);
}

TEST_F(EnvOverrideTest, AnOverrideThatIsNotUtf8LoadsAndShowsReplaced) {
  FakeEnvVars() = {{"SLUICE_NAME", "caf\xe9"}};  // Latin-1, as a non-UTF-8 locale may set it
  LoadResult r = ParseWithEnv(file_);
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_EQ(r.config->name, "caf\xe9");
  EXPECT_EQ(r.config->effective()["name"], "caf\xef\xbf\xbd");  // U+FFFD
}

TEST_F(EnvOverrideTest, WithoutOverridesEffectiveIsTheFile) {
  LoadResult r = ParseWithEnv(file_);
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_EQ(r.config->port, 8000);
  EXPECT_EQ(r.config->effective(), Json::parse(file_));
}

TEST_F(EnvOverrideTest, BadOverridesAreErrorsNamingTheVariable) {
  FakeEnvVars() = {{"SLUICE_PORT", "0"}, {"SLUICE_TIMEOUT", "soon"}};
  LoadResult r = ParseWithEnv(file_);
  EXPECT_EQ(r.config, nullptr);
  ASSERT_EQ(r.errors.size(), 2u) << Dump(r.errors);
  EXPECT_TRUE(Has(r.errors, "", "SLUICE_PORT: expected a port 1..65535, got \"0\""));
  EXPECT_TRUE(Has(r.errors, "", "SLUICE_TIMEOUT: malformed duration \"soon\""));
  FakeEnvVars() = {{"SLUICE_PORT", "65536"}};
  EXPECT_TRUE(Has(ParseWithEnv(file_).errors, "", "SLUICE_PORT"));
  FakeEnvVars() = {{"SLUICE_PORT", "80x"}};
  EXPECT_TRUE(Has(ParseWithEnv(file_).errors, "", "SLUICE_PORT"));
}

TEST_F(EnvOverrideTest, AdminAddressesFromTheEnvironment) {
  FakeEnvVars() = {{"SLUICE_ADMIN_ADDRESS", "127.0.0.1:0"}, {"SLUICE_METRICS_ADDRESS", ":0"}};
  LoadResult r = ParseWithEnv(file_);
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_EQ(r.config->admin.address.ToString(), "127.0.0.1:0");
  EXPECT_EQ(r.config->admin.metrics_address.ToString(), "0.0.0.0:0");
  EXPECT_EQ(r.config->effective()["extra_config"]["sluice/admin"]["address"], "127.0.0.1:0");
  // They replace the file's values, KrakenD's listen_address included (no conflict error).
  r = ParseWithEnv(R"({"version": 2, "extra_config": {
      "github_com/devopsfaith/krakend-metrics": {"listen_address": ":8090"},
      "sluice/admin": {"address": "127.0.0.1:7000", "metrics_address": "127.0.0.1:7001",
                       "token_env": "T"}}})");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_EQ(r.config->admin.address.ToString(), "127.0.0.1:0");
  EXPECT_EQ(r.config->admin.metrics_address.ToString(), "0.0.0.0:0");
  EXPECT_EQ(r.config->admin.token_env, "T");  // the rest of the block stays
  // A wrongly typed extra_config is reported by the parser, not thrown.
  r = ParseWithEnv(R"({"version": 3, "extra_config": ["x"]})");
  EXPECT_TRUE(Has(r.errors, "extra_config", "expected an object, got array")) << Dump(r.errors);
}

TEST_F(EnvOverrideTest, BadAdminAddressesNameTheVariable) {
  FakeEnvVars() = {{"SLUICE_ADMIN_ADDRESS", "nowhere"}, {"SLUICE_METRICS_ADDRESS", "1.2.3.4:x"}};
  LoadResult r = ParseWithEnv(file_);
  EXPECT_EQ(r.config, nullptr);
  EXPECT_TRUE(Has(r.errors, "", "SLUICE_ADMIN_ADDRESS: bad listen address \"nowhere\""))
      << Dump(r.errors);
  EXPECT_TRUE(Has(r.errors, "", "SLUICE_METRICS_ADDRESS: bad listen address \"1.2.3.4:x\""))
      << Dump(r.errors);
}

// ----- lint ------------------------------------------------------------------------------------

TEST(ConfigTest, UnknownKeysAreLintedWithTheirPathButDoNotStopLoading) {
  LoadResult r = Load("lint_unknown.json");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  ASSERT_NE(r.config, nullptr);
  EXPECT_TRUE(Has(r.lint, "prot", "unknown key (did you mean \"port\"?)"));
  EXPECT_TRUE(Has(r.lint, "endpoints[0].headers_to_pass", "version 3 uses input_headers"));
  EXPECT_TRUE(Has(r.lint, "endpoints[0].backend[1].urlpattern", "unknown key"));
  EXPECT_TRUE(Has(r.lint, "endpoints[0].backend[1].whitelist", "version 3 uses allow"));
  EXPECT_TRUE(Has(r.lint, "endpoints[0].backend[1].frobnicate", "unknown key"));
  // Components' own keys and unknown namespaces are not linted.
  EXPECT_EQ(r.lint.size(), 5u) << Dump(r.lint);
  // A v2 name in a v3 file is not applied.
  EXPECT_TRUE(r.config->endpoints[0].input_headers.empty());
  EXPECT_TRUE(r.config->endpoints[0].backends[1].allow.empty());
  EXPECT_EQ(r.config->port, 8080);
}

// What KrakenD loads, loaded the same way (issue 13).
TEST(ConfigTest, LooseEndpointsLoadAsKrakenDLoadsThem) {
  LoadResult slash = Load("lint_endpoint_slash.json");
  ASSERT_TRUE(slash.errors.empty()) << Dump(slash.errors);
  EXPECT_EQ(slash.config->endpoints[0].path, "/users");
  EXPECT_TRUE(Has(slash.lint, "endpoints[0].endpoint", "\"users\" is served as \"/users\""));

  LoadResult encoding = Load("lint_unknown_encoding.json");
  ASSERT_TRUE(encoding.errors.empty()) << Dump(encoding.errors);
  EXPECT_EQ(encoding.config->endpoints[0].backends[0].encoding, BackendEncoding::kJson);
  EXPECT_TRUE(Has(encoding.lint, "endpoints[0].backend[0].encoding",
                  "unknown encoding \"protobuf\" is decoded as json"));

  LoadResult methods = Parse(R"({"version": 3, "host": ["h"], "endpoints": [
      {"endpoint": "/a", "method": "GET,POST", "backend": [{"url_pattern": "/a"}]},
      {"endpoint": "/a", "backend": [{"url_pattern": "/a"}]}]})");
  ASSERT_TRUE(methods.errors.empty()) << Dump(methods.errors);
  ASSERT_EQ(methods.config->endpoints.size(), 1u) << "the GET,POST endpoint is skipped";
  EXPECT_EQ(methods.config->endpoints[0].json_path, "endpoints[1]");
  EXPECT_TRUE(Has(methods.warnings, "endpoints[0].method", "this endpoint is skipped"))
      << Dump(methods.warnings);
}

TEST(ConfigTest, V3NamesInAV2FileAreLintedAndIgnored) {
  LoadResult r = Parse(R"({"version": 2, "host": ["h"], "endpoints": [
      {"endpoint": "/a", "input_headers": ["X"], "backend": [
        {"url_pattern": "/a", "input_query_strings": ["q"]}]}]})");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_TRUE(Has(r.lint, "endpoints[0].input_headers", "version 2 uses headers_to_pass"));
  EXPECT_TRUE(Has(r.lint, "endpoints[0].backend[0].input_query_strings", "only in version 3"));
  EXPECT_TRUE(r.config->endpoints[0].input_headers.empty());
  EXPECT_FALSE(r.config->endpoints[0].backends[0].input_query_strings.has_value());
}

TEST(ConfigTest, DocumentedKrakendKeysAreAcceptedWithoutLint) {
  LoadResult r = Parse(R"({"version": 3, "host": ["h"], "disable_keep_alives": true,
      "plugin": {"folder": "./p", "pattern": ".so"}, "tls": {"disabled": true}, "use_h2c": false,
      "dns_cache_ttl": "30s", "echo_endpoint": true, "disable_rest": false, "async_agent": [],
      "max_idle_connections": 10, "client_tls": {}, "sequential_start": true,
      "endpoints": [{"endpoint": "/a", "backend": [
        {"url_pattern": "/a", "sd": "dns", "sd_scheme": "https"}]}]})");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_TRUE(r.lint.empty()) << Dump(r.lint);
  EXPECT_EQ(r.config->endpoints[0].backends[0].sd, "dns");
  EXPECT_EQ(r.config->endpoints[0].backends[0].sd_scheme, "https");
}

// KrakenD's loader converts loosely: "true", "1" where a bool is expected, numeric strings where a
// number is. Sluice loads them too, and lint says where.
TEST(ConfigTest, LooseTypesLoadAsKrakenDLoadsThemWithLint) {
  LoadResult r = Parse(R"({"version": "3", "port": "8081", "use_h2c": "true",
      "endpoints": [{"endpoint": "/a", "concurrent_calls": "2", "backend": [
        {"host": ["h"], "url_pattern": "/a", "is_collection": "1"}]}]})");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_EQ(r.config->version, 3);
  EXPECT_EQ(r.config->port, 8081);
  EXPECT_TRUE(r.config->use_h2c);
  EXPECT_EQ(r.config->endpoints[0].concurrent_calls, 2);
  EXPECT_TRUE(r.config->endpoints[0].backends[0].is_collection);
  EXPECT_TRUE(Has(r.lint, "version", "written as the string")) << Dump(r.lint);
  EXPECT_TRUE(Has(r.lint, "use_h2c", "a boolean written as the string \"true\"")) << Dump(r.lint);
  EXPECT_TRUE(Has(r.lint, "endpoints[0].backend[0].is_collection", "boolean")) << Dump(r.lint);
  EXPECT_TRUE(Has(r.lint, "endpoints[0].concurrent_calls", "integer")) << Dump(r.lint);
}

TEST(ConfigTest, UseH2cIsABoolOffByDefault) {
  const std::string endpoints = R"("endpoints": [{"endpoint": "/a", "backend": [
      {"host": ["h"], "url_pattern": "/a"}]}])";
  LoadResult off = Parse(R"({"version": 3, )" + endpoints + "}");
  ASSERT_TRUE(off.errors.empty()) << Dump(off.errors);
  EXPECT_FALSE(off.config->use_h2c);
  LoadResult on = Parse(R"({"version": 3, "use_h2c": true, )" + endpoints + "}");
  ASSERT_TRUE(on.errors.empty()) << Dump(on.errors);
  EXPECT_TRUE(on.config->use_h2c);
  EXPECT_NE(Describe(*on.config).find("use_h2c: on"), std::string::npos);
  LoadResult bad = Parse(R"({"version": 3, "use_h2c": "yes", )" + endpoints + "}");
  EXPECT_TRUE(Has(bad.errors, "use_h2c", "")) << Dump(bad.errors);
}

// ----- provenance, formatting ------------------------------------------------------------------

TEST(ConfigTest, KeepsProvenance) {
  const std::string text = R"({"version":3,"host":["localhost:1"],"endpoints":[]})";
  absl::Time before = absl::Now();
  LoadResult r = ParseConfig(text, "some/file.json", &NoEnv);
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_EQ(r.config->file_path, "some/file.json");
  // printf '%s' '<text>' | sha256sum
  EXPECT_EQ(r.config->sha256_hex,
            "fccfe074ee0701911faf3638e4e0daeb5909c4738d19a5f1fcf21e4d9c90e8de");
  EXPECT_GE(r.config->loaded_at, before);
  EXPECT_LE(r.config->loaded_at, absl::Now());
}

TEST(ConfigTest, EffectiveIsTheParsedTextOrNull) {
  LoadResult r = ParseConfig(R"({"version": 3, "name": "n", "endpoints": []})", "f.json", &NoEnv);
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_EQ(r.config->effective()["name"], "n");
  // A config built in code has no text: null, not a parse error.
  EXPECT_TRUE(ServiceConfig().effective().is_null());
}

TEST(ConfigTest, LoadConfigFileReadsTheExactBytes) {
  // CRLF line ends and a trailing one: read in text mode or trimmed, the digest would differ.
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/crlf.json";
  std::ofstream(path, std::ios::binary) << "{\"version\": 3,\r\n  \"endpoints\": []}\r\n";
  LoadResult r = LoadConfigFile(path, &NoEnv);
  ASSERT_NE(r.config, nullptr) << Dump(r.errors);
  // printf '{"version": 3,\r\n  "endpoints": []}\r\n' | sha256sum
  EXPECT_EQ(r.config->sha256_hex,
            "44eda623a25661aa65039ca502fc7d52e6b0e3865dad93afa7ac952e9d78cb29");
  EXPECT_EQ(r.config->file_path, path);
}

TEST(ConfigTest, MissingFileIsAnError) {
  LoadResult r = LoadConfigFile(TestdataPath("does_not_exist.json"), &NoEnv);
  EXPECT_EQ(r.config, nullptr);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].message, HasSubstr("cannot read file"));
  EXPECT_THAT(r.errors[0].message, HasSubstr("No such file"));
}

TEST(ConfigTest, FormatDiagnostic) {
  EXPECT_EQ(FormatDiagnostic("k.json", {"endpoints[0].timeout", "bad"}),
            "k.json: endpoints[0].timeout: bad");
  EXPECT_EQ(FormatDiagnostic("k.json", {"", "invalid JSON at line 1, column 2: x"}),
            "k.json: invalid JSON at line 1, column 2: x");
}

TEST(ConfigTest, DescribeSummarisesEndpointsAndBackends) {
  LoadResult r = Load("good_v3.json");
  ASSERT_NE(r.config, nullptr);
  std::string d = Describe(*r.config);
  EXPECT_THAT(d, HasSubstr("name: Sluice demo\n"));
  EXPECT_THAT(d, HasSubstr("version: 3\n"));
  EXPECT_THAT(d, HasSubstr("port: 9090"));
  EXPECT_THAT(d, HasSubstr("timeout: 3s"));
  EXPECT_THAT(d, HasSubstr("read_timeout=15s"));
  EXPECT_THAT(d, HasSubstr("\nGET /users/{id}  timeout=1.5s  output=json  cache_ttl=5m\n"));
  EXPECT_THAT(d, HasSubstr("  -> GET http://127.0.0.1:8080/api/users/{id} (encoding json)\n"));
  EXPECT_THAT(d, HasSubstr("  -> POST https://orders.example.com:443/orders?user={id} (encoding "
                           "safejson) +1 more hosts\n"));
  EXPECT_THAT(d, HasSubstr("\nPUT /raw/{path}  timeout=3s  output=no-op  concurrent_calls=2\n"));
  EXPECT_THAT(d, HasSubstr("  -> PUT http://localhost:9002/raw/{path} (encoding no-op)\n"));
}

TEST(ConfigTest, EncodingNames) {
  EXPECT_EQ(ToString(BackendEncoding::kSafeJson), "safejson");
  EXPECT_EQ(ToString(BackendEncoding::kNoOp), "no-op");
  EXPECT_EQ(ToString(OutputEncoding::kJsonCollection), "json-collection");
  EXPECT_EQ(ToString(OutputEncoding::kNegotiate), "negotiate");
  for (const char* enc : {"json", "safejson", "string", "xml", "rss", "no-op", "fast-json"}) {
    LoadResult r = Parse(std::string(R"({"version": 3, "host": ["h"], "endpoints": [
        {"endpoint": "/a", "backend": [{"url_pattern": "/a", "encoding": ")") +
                         enc + R"("}]}]})");
    EXPECT_TRUE(r.errors.empty()) << enc << Dump(r.errors);
  }
  for (const char* out : {"json", "json-collection", "string", "xml", "yaml", "negotiate"}) {
    LoadResult r = Parse(std::string(R"({"version": 3, "host": ["h"], "output_encoding": ")") +
                         out + R"(", "endpoints": []})");
    ASSERT_TRUE(r.errors.empty()) << out << Dump(r.errors);
    EXPECT_EQ(ToString(r.config->output_encoding), out);
  }
  EXPECT_TRUE(Has(Parse(R"({"version": 3, "output_encoding": "html"})").errors, "output_encoding",
                  "unknown output encoding \"html\""));
}

// ----- durations -------------------------------------------------------------------------------

TEST(ParseDurationTest, GoSyntax) {
  EXPECT_EQ(ParseDuration("0"), absl::ZeroDuration());
  EXPECT_EQ(ParseDuration("0s"), absl::ZeroDuration());
  EXPECT_EQ(ParseDuration("2s"), absl::Seconds(2));
  EXPECT_EQ(ParseDuration("1500ms"), absl::Milliseconds(1500));
  EXPECT_EQ(ParseDuration("250us"), absl::Microseconds(250));
  EXPECT_EQ(ParseDuration("250\xC2\xB5s"), absl::Microseconds(250));  // µs (micro sign)
  EXPECT_EQ(ParseDuration("250\xCE\xBCs"), absl::Microseconds(250));  // μs (Greek mu)
  EXPECT_EQ(ParseDuration("10ns"), absl::Nanoseconds(10));
  EXPECT_EQ(ParseDuration("1h"), absl::Hours(1));
  EXPECT_EQ(ParseDuration("1m30s"), absl::Seconds(90));
  EXPECT_EQ(ParseDuration("1h2m3s"), absl::Hours(1) + absl::Minutes(2) + absl::Seconds(3));
  EXPECT_EQ(ParseDuration("1.5s"), absl::Milliseconds(1500));
  EXPECT_EQ(ParseDuration(".5s"), absl::Milliseconds(500));
  EXPECT_EQ(ParseDuration("1.s"), absl::Seconds(1));
  EXPECT_EQ(ParseDuration("2.25h"), absl::Minutes(135));
  EXPECT_EQ(ParseDuration("+3s"), absl::Seconds(3));
}

TEST(ParseDurationTest, Malformed) {
  for (const char* bad : {"", "2x", "2", "s", "1.5", ".s", "1s2", "-1s", "-0", "1 s", "1S", "1d",
                          "ms", "10000000000000000000s", "9999999h", "+"}) {
    EXPECT_EQ(ParseDuration(bad), std::nullopt) << bad;
  }
}

TEST(ParseDurationTest, NegativeDurationInConfigHasItsOwnMessage) {
  LoadResult r = Parse(R"({"version": 3, "read_timeout": "-5s"})");
  EXPECT_TRUE(Has(r.errors, "read_timeout", "negative duration \"-5s\" is not allowed"))
      << Dump(r.errors);
}

// ----- the admin plane: extra_config."sluice/admin" and "telemetry/metrics" -------------------

TEST(AdminConfigTest, DefaultsAreLoopbackWithoutToken) {
  LoadResult r = Parse(R"({"version": 3, "endpoints": []})");
  ASSERT_NE(r.config, nullptr) << Dump(r.errors);
  const AdminConfig& a = r.config->admin;
  EXPECT_EQ(a.address.ToString(), "127.0.0.1:9091");
  EXPECT_EQ(a.metrics_address.ToString(), "127.0.0.1:9090");
  EXPECT_EQ(a.token_env, "");
  EXPECT_EQ(a.token_file, "");
  EXPECT_FALSE(a.require_token_for_all);
}

TEST(AdminConfigTest, ReadsEveryKey) {
  LoadResult r = Parse(R"({"version": 3, "endpoints": [], "extra_config": {"sluice/admin": {
      "address": "0.0.0.0:7000", "metrics_address": "[::1]:0", "token_env": "SLUICE_ADMIN_TOKEN",
      "token_file": "/run/secrets/admin", "require_token_for_all": true}}})");
  ASSERT_NE(r.config, nullptr) << Dump(r.errors);
  const AdminConfig& a = r.config->admin;
  EXPECT_EQ(a.address.ip, "0.0.0.0");
  EXPECT_EQ(a.address.port, 7000);
  EXPECT_EQ(a.metrics_address.ip, "::1");
  EXPECT_EQ(a.metrics_address.port, 0);
  EXPECT_EQ(a.metrics_address.ToString(), "[::1]:0");
  EXPECT_EQ(a.token_env, "SLUICE_ADMIN_TOKEN");
  EXPECT_EQ(a.token_file, "/run/secrets/admin");
  EXPECT_TRUE(a.require_token_for_all);
  EXPECT_TRUE(r.lint.empty()) << Dump(r.lint);
}

TEST(AdminConfigTest, ListenAddressForms) {
  struct Case {
    const char* text;
    const char* ip;
    uint16_t port;
  };
  for (const Case& c : {Case{":8090", "0.0.0.0", 8090}, Case{"localhost:9", "127.0.0.1", 9},
                        Case{"10.1.2.3:65535", "10.1.2.3", 65535}, Case{"[::]:1", "::", 1}}) {
    LoadResult r = Parse(absl::StrCat(
        R"({"version": 3, "extra_config": {"sluice/admin": {"address": ")", c.text, R"("}}})"));
    ASSERT_NE(r.config, nullptr) << c.text << "\n" << Dump(r.errors);
    EXPECT_EQ(r.config->admin.address.ip, c.ip) << c.text;
    EXPECT_EQ(r.config->admin.address.port, c.port) << c.text;
  }
}

TEST(AdminConfigTest, BadAddressesNameTheJsonPath) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c :
       {Case{"9091", "missing \":PORT\""}, Case{"127.0.0.1:", "invalid port"},
        Case{"127.0.0.1:65536", "invalid port"}, Case{"127.0.0.1:x1", "invalid port"},
        Case{"admin.local:9091", "is not an IP address"}, Case{"::1:9091", "must be in brackets"},
        Case{"[zz]:1", "invalid IPv6"}, Case{"300.1.1.1:1", "is not an IP address"}}) {
    LoadResult r = Parse(
        absl::StrCat(R"({"version": 3, "extra_config": {"sluice/admin": {"metrics_address": ")",
                     c.text, R"("}}})"));
    EXPECT_EQ(r.config, nullptr) << c.text;
    ASSERT_EQ(r.errors.size(), 1u) << c.text << "\n" << Dump(r.errors);
    EXPECT_EQ(r.errors[0].path, "extra_config.sluice/admin.metrics_address");
    EXPECT_THAT(r.errors[0].message, HasSubstr(c.message)) << c.text;
  }
  LoadResult r = Parse(R"({"version": 3, "extra_config": {"sluice/admin": {"address": 9091}}})");
  EXPECT_TRUE(Has(r.errors, "extra_config.sluice/admin.address", "expected a string, got integer"))
      << Dump(r.errors);
  r = Parse(R"({"version": 3, "extra_config": {"sluice/admin": ["x"]}})");
  EXPECT_TRUE(Has(r.errors, "extra_config.sluice/admin", "expected an object, got array"))
      << Dump(r.errors);
}

TEST(AdminConfigTest, TokenSettingsAreValidated) {
  LoadResult r = Parse(R"({"version": 3, "extra_config": {"sluice/admin": {
      "token_env": "1BAD-NAME", "token_file": "", "require_token_for_all": "yes"}}})");
  EXPECT_TRUE(Has(r.errors, "extra_config.sluice/admin.token_env", "not an environment variable"))
      << Dump(r.errors);
  EXPECT_TRUE(Has(r.errors, "extra_config.sluice/admin.token_file", "empty path"))
      << Dump(r.errors);
  EXPECT_TRUE(Has(r.errors, "extra_config.sluice/admin.require_token_for_all", "a boolean"))
      << Dump(r.errors);
  EXPECT_EQ(r.errors.size(), 3u) << Dump(r.errors);

  r = Parse(R"({"version": 3, "extra_config": {"sluice/admin": {"require_token_for_all": true}}})");
  EXPECT_TRUE(Has(r.errors, "extra_config.sluice/admin.require_token_for_all",
                  "needs a token: set token_env or token_file"))
      << Dump(r.errors);
}

TEST(AdminConfigTest, KrakendMetricsListenAddress) {
  // v3 namespace.
  LoadResult r = Parse(R"({"version": 3, "extra_config": {"telemetry/metrics": {
      "collection_time": "60s", "listen_address": ":8090"}}})");
  ASSERT_NE(r.config, nullptr) << Dump(r.errors);
  EXPECT_EQ(r.config->admin.metrics_address.ToString(), "0.0.0.0:8090");
  // v2 namespace, renamed on load; errors name the key as written.
  r = Parse(R"({"version": 2, "extra_config": {"github_com/devopsfaith/krakend-metrics": {
      "listen_address": "127.0.0.1:18090"}}})");
  ASSERT_NE(r.config, nullptr) << Dump(r.errors);
  EXPECT_EQ(r.config->admin.metrics_address.ToString(), "127.0.0.1:18090");
  r = Parse(R"({"version": 2, "extra_config": {"github_com/devopsfaith/krakend-metrics": {
      "listen_address": "nope"}}})");
  EXPECT_TRUE(Has(r.errors, "extra_config.github_com/devopsfaith/krakend-metrics.listen_address",
                  "bad listen address \"nope\""))
      << Dump(r.errors);
}

TEST(AdminConfigTest, ConflictingMetricsAddressesAreAnError) {
  LoadResult r = Parse(R"({"version": 3, "extra_config": {
      "telemetry/metrics": {"listen_address": "127.0.0.1:8090"},
      "sluice/admin": {"metrics_address": "127.0.0.1:9999"}}})");
  EXPECT_TRUE(Has(r.errors, "extra_config.sluice/admin.metrics_address",
                  "conflicts with extra_config.telemetry/metrics.listen_address (127.0.0.1:8090)"))
      << Dump(r.errors);
  // The same address twice is fine.
  r = Parse(R"({"version": 3, "extra_config": {
      "telemetry/metrics": {"listen_address": "127.0.0.1:8090"},
      "sluice/admin": {"metrics_address": "127.0.0.1:8090"}}})");
  EXPECT_NE(r.config, nullptr) << Dump(r.errors);
}

TEST(AdminConfigTest, AdminAndMetricsCannotShareAPort) {
  LoadResult r = Parse(R"({"version": 3, "extra_config": {"sluice/admin": {
      "address": "127.0.0.1:9000", "metrics_address": "127.0.0.1:9000"}}})");
  EXPECT_TRUE(Has(r.errors, "extra_config.sluice/admin.metrics_address", "cannot share"))
      << Dump(r.errors);
  r = Parse(R"({"version": 3, "extra_config": {"sluice/admin": {"address": "127.0.0.1:9090"}}})");
  EXPECT_TRUE(Has(r.errors, "extra_config.sluice/admin.address", "cannot share 127.0.0.1:9090"))
      << Dump(r.errors);
  // Port 0 twice: two different ephemeral ports.
  r = Parse(R"({"version": 3, "extra_config": {"sluice/admin": {
      "address": "127.0.0.1:0", "metrics_address": "127.0.0.1:0"}}})");
  EXPECT_NE(r.config, nullptr) << Dump(r.errors);
}

TEST(AdminConfigTest, UnknownAdminKeysAreLinted) {
  LoadResult r = Parse(R"({"version": 3, "extra_config": {"sluice/admin": {"adress": ":1"}}})");
  ASSERT_NE(r.config, nullptr) << Dump(r.errors);
  EXPECT_TRUE(Has(r.lint, "extra_config.sluice/admin.adress", "did you mean \"address\"?"))
      << Dump(r.lint);
}

TEST(AdminConfigTest, DescribeShowsTheAdminPlaneButNoSecret) {
  LoadResult r = Parse(R"({"version": 3, "extra_config": {"sluice/admin": {
      "address": "127.0.0.1:7001", "token_env": "ADMIN_TOKEN"}}})");
  ASSERT_NE(r.config, nullptr) << Dump(r.errors);
  EXPECT_THAT(
      Describe(*r.config),
      HasSubstr("admin: grpc=127.0.0.1:7001 metrics=127.0.0.1:9090 token=env ADMIN_TOKEN\n"));
}

}  // namespace
}  // namespace sluice::config
