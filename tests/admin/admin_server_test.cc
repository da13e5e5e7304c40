// The admin server in-process over a fake InstanceView: admin.Admin through the generated stubs,
// grpc.health.v1, the token rules and the /metrics listener. (Reflection and the real binary are
// covered by tests/integration/admin_test.cc.)

#include "admin/admin_server.h"

#include <stdlib.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "admin/admin_service.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/string_body.hpp"
#include "boost/beast/http/write.hpp"
#include "gateway/config/config.h"
#include "gateway/version/version.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/admin/admin.grpc.pb.h"

namespace sluice::admin {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
namespace pb = ::admin;
namespace bhttp = boost::beast::http;

constexpr char kConfig[] = R"({
  "version": 3,
  "name": "Admin Test rev-1234",
  "timeout": "1s",
  "host": ["http://127.0.0.1:1"],
  "extra_config": {
    "sluice/admin": {"address": "127.0.0.1:0", "metrics_address": "127.0.0.1:0" __TOKEN__},
    "auth/client-credentials": {"client_id": "gw", "client_secret": "hunter2"}
  },
  "endpoints": [
    {"endpoint": "/users/{id}", "backend": [{"url_pattern": "/u/{id}"}, {"url_pattern": "/p/{id}"}]},
    {"endpoint": "/orders", "method": "POST", "backend": [{"url_pattern": "/o"}]}
  ]
})";

std::shared_ptr<const config::ServiceConfig> Config(const std::string& token_settings = "") {
  std::string text = kConfig;
  text.replace(text.find("__TOKEN__"), 9, token_settings);
  config::LoadResult r = config::ParseConfig(text, "/etc/sluice/admin-test.json", [](const char*) {
    return std::optional<std::string>();
  });
  EXPECT_TRUE(r.errors.empty()) << r.errors.front().path << ": " << r.errors.front().message;
  return r.config;
}

class FakeView : public runtime::InstanceView {
 public:
  explicit FakeView(std::shared_ptr<const config::ServiceConfig> cfg) : cfg_(std::move(cfg)) {
    info_.started_at = absl::Now() - absl::Seconds(30);
    info_.public_address = "0.0.0.0:8080";
    info_.workers = 3;
    info_.pid = 4242;
    info_.hostname = "gw-1";
    metrics::EndpointSnapshot users;
    users.method = "GET";
    users.path = "/users/{id}";
    users.requests_by_class = {0, 8, 0, 1, 1};
    users.in_flight = 2;
    users.latency.buckets[1] = 10;  // all 10 in (0.0005, 0.001]
    users.latency.count = 10;
    users.latency.sum_seconds = 0.0075;
    users.bytes_out = 999;
    metrics::EndpointSnapshot orders;
    orders.method = "POST";
    orders.path = "/orders";
    snapshot_.endpoints = {users, orders};
    metrics::BackendSnapshot u, p, o;
    u.endpoint_method = p.endpoint_method = "GET";
    u.endpoint_path = p.endpoint_path = "/users/{id}";
    u.url_pattern = "/u/{id}";
    p.url_pattern = "/p/{id}";
    o.endpoint_method = "POST";
    o.endpoint_path = "/orders";
    o.url_pattern = "/o";
    u.hosts = p.hosts = o.hosts = {"http://127.0.0.1:1"};
    u.calls = 10;
    u.failures = {0, 1, 2, 3, 4, 5, 6, 7};
    u.last_success_unix_ms = 1700000000000;
    u.last_failure_unix_ms = 1700000001500;
    u.last_error = "timeout: deadline exceeded";
    p.calls = 3;
    p.last_success_unix_ms = 1700000002000;
    p.last_failure_unix_ms = 1700000001000;
    snapshot_.backends = {u, p, o};
  }

  std::shared_ptr<const config::ServiceConfig> config() const override { return cfg_; }
  runtime::RuntimeInfo info() const override { return info_; }
  metrics::Snapshot metrics() const override { return snapshot_; }
  runtime::ProcessStats process() const override { return {5, 77, 4096, 1 << 20, {3, 2}}; }
  runtime::ServingState serving_state() const override {
    return draining_ ? runtime::ServingState::kDraining : runtime::ServingState::kServing;
  }
  void Drain() override { draining_ = true; }
  void Resume() override { draining_ = false; }

  bool draining() const { return draining_; }

 private:
  std::shared_ptr<const config::ServiceConfig> cfg_;
  runtime::RuntimeInfo info_;
  metrics::Snapshot snapshot_;
  std::atomic<bool> draining_{false};
};

// Bounded: every call in these tests answers from memory on loopback.
constexpr auto kCallTimeout = std::chrono::seconds(5);

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& authorization = "") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  if (!authorization.empty()) ctx->AddMetadata("authorization", authorization);
  return ctx;
}

struct HttpResult {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

HttpResult HttpCall(const std::string& address, bhttp::verb method, const std::string& target) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  size_t colon = address.rfind(':');
  socket.connect({boost::asio::ip::make_address(address.substr(0, colon)),
                  static_cast<uint16_t>(std::stoi(address.substr(colon + 1)))});
  bhttp::request<bhttp::string_body> req(method, target, 11);
  req.set(bhttp::field::host, "test");
  bhttp::write(socket, req);
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(socket, buffer, res);
  return {res.result_int(), std::string(res[bhttp::field::content_type]), res.body()};
}

class AdminServerTest : public ::testing::Test {
 protected:
  void Start(const std::string& token_settings = "") {
    view_ = std::make_unique<FakeView>(Config(token_settings));
    absl::StatusOr<std::unique_ptr<AdminServer>> server = AdminServer::Start(*view_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = grpc::CreateChannel(server_->grpc_address(), grpc::InsecureChannelCredentials());
    admin_ = pb::Admin::NewStub(channel_);
    health_ = grpc::health::v1::Health::NewStub(channel_);
  }

  HealthCheckResponse::ServingStatus HealthOf(const std::string& service,
                                              grpc::StatusCode* code = nullptr) {
    HealthCheckRequest req;
    req.set_service(service);
    HealthCheckResponse res;
    grpc::Status st = health_->Check(Ctx().get(), req, &res);
    if (code != nullptr) *code = st.error_code();
    return res.status();
  }

  std::unique_ptr<FakeView> view_;
  std::unique_ptr<AdminServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Admin::Stub> admin_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

TEST_F(AdminServerTest, BindsTheConfiguredLoopbackAddresses) {
  Start();
  EXPECT_THAT(server_->grpc_address(), ::testing::StartsWith("127.0.0.1:"));
  EXPECT_THAT(server_->metrics_address(), ::testing::StartsWith("127.0.0.1:"));
  EXPECT_NE(server_->grpc_address(), "127.0.0.1:0");
  EXPECT_NE(server_->metrics_address(), "127.0.0.1:0");
  EXPECT_NE(server_->grpc_address(), server_->metrics_address());
}

TEST_F(AdminServerTest, StatusReportsEveryField) {
  Start();
  pb::StatusResponse s;
  ASSERT_TRUE(admin_->Status(Ctx().get(), {}, &s).ok());
  const config::ServiceConfig& cfg = *view_->config();
  EXPECT_EQ(s.name(), "Admin Test rev-1234");
  EXPECT_EQ(s.config_version(), 3);
  EXPECT_EQ(s.config_sha256(), cfg.sha256_hex);
  EXPECT_EQ(s.config_sha256().size(), 64u);
  EXPECT_EQ(s.config_path(), "/etc/sluice/admin-test.json");
  EXPECT_EQ(s.config_loaded_at().seconds(), absl::ToUnixSeconds(cfg.loaded_at));
  EXPECT_EQ(s.config_loaded_at().nanos(), absl::ToUnixNanos(cfg.loaded_at) % 1000000000);
  EXPECT_EQ(s.sluice_version(), std::string(version::Version()));
  EXPECT_EQ(s.git_revision(), std::string(version::GitRevision()));
  EXPECT_EQ(s.started_at().seconds(), absl::ToUnixSeconds(view_->info().started_at));
  EXPECT_GE(s.uptime().seconds(), 30);
  EXPECT_LT(s.uptime().seconds(), 300);
  EXPECT_EQ(s.pid(), 4242);
  EXPECT_EQ(s.hostname(), "gw-1");
  EXPECT_EQ(s.public_address(), "0.0.0.0:8080");
  EXPECT_EQ(s.admin_address(), server_->grpc_address());
  EXPECT_EQ(s.metrics_address(), server_->metrics_address());
  EXPECT_EQ(s.workers(), 3);
  EXPECT_EQ(s.endpoints(), 2);
  EXPECT_EQ(s.state(), pb::SERVING);
}

TEST_F(AdminServerTest, GetMetricsMapsTheSnapshot) {
  Start();
  pb::GetMetricsResponse m;
  ASSERT_TRUE(admin_->GetMetrics(Ctx().get(), {}, &m).ok());
  ASSERT_EQ(m.endpoints_size(), 2);
  const pb::EndpointMetrics& e = m.endpoints(0);
  EXPECT_EQ(e.method(), "GET");
  EXPECT_EQ(e.path(), "/users/{id}");
  EXPECT_EQ(e.requests().status_2xx(), 8u);
  EXPECT_EQ(e.requests().status_4xx(), 1u);
  EXPECT_EQ(e.requests().status_5xx(), 1u);
  EXPECT_EQ(e.requests_total(), 10u);
  EXPECT_EQ(e.in_flight(), 2);
  EXPECT_EQ(e.bytes_out(), 999u);
  EXPECT_EQ(e.latency().upper_bounds_seconds_size(), int(metrics::kLatencyBuckets.size()));
  EXPECT_EQ(e.latency().bucket_counts_size(), int(metrics::kLatencyBuckets.size() + 1));
  EXPECT_EQ(e.latency().bucket_counts(1), 10u);
  EXPECT_EQ(e.latency().count(), 10u);
  EXPECT_DOUBLE_EQ(e.latency().sum_seconds(), 0.0075);
  EXPECT_DOUBLE_EQ(e.latency().p50_seconds(), 0.00075);  // halfway through (0.0005, 0.001]
  EXPECT_GT(e.latency().p99_seconds(), e.latency().p90_seconds());
  EXPECT_EQ(m.endpoints(1).path(), "/orders");
  EXPECT_EQ(m.endpoints(1).requests_total(), 0u);

  ASSERT_EQ(m.backends_size(), 3);
  const pb::BackendMetrics& b = m.backends(0);
  EXPECT_EQ(b.endpoint_method(), "GET");
  EXPECT_EQ(b.endpoint_path(), "/users/{id}");
  EXPECT_EQ(b.url_pattern(), "/u/{id}");
  ASSERT_EQ(b.hosts_size(), 1);
  EXPECT_EQ(b.hosts(0), "http://127.0.0.1:1");
  EXPECT_EQ(b.calls(), 10u);
  // {none, connect, timeout, reset, status, decode, bad_response, request} = {0, ..., 7}
  EXPECT_EQ(b.failures().connect(), 1u);
  EXPECT_EQ(b.failures().timeout(), 2u);
  EXPECT_EQ(b.failures().reset(), 3u);
  EXPECT_EQ(b.failures().status(), 4u);
  EXPECT_EQ(b.failures().decode(), 5u);
  EXPECT_EQ(b.failures().bad_response(), 6u);
  EXPECT_EQ(b.failures().request(), 7u);
  EXPECT_EQ(b.failures_total(), 28u);
  EXPECT_EQ(m.backends(2).url_pattern(), "/o");

  EXPECT_EQ(m.process().open_connections(), 5);
  EXPECT_THAT(m.process().worker_connections(), ElementsAre(3, 2));
  EXPECT_EQ(m.process().total_connections(), 77u);
  EXPECT_EQ(m.process().resident_memory_bytes(), 1u << 20);
}

TEST_F(AdminServerTest, HealthReportsBackends) {
  Start();
  pb::HealthResponse h;
  ASSERT_TRUE(admin_->Health(Ctx().get(), {}, &h).ok());
  EXPECT_EQ(h.state(), pb::SERVING);
  ASSERT_EQ(h.backends_size(), 3);
  EXPECT_EQ(h.backends(0).state(), pb::BACKEND_FAILING);
  EXPECT_EQ(h.backends(0).last_success().seconds(), 1700000000);
  EXPECT_EQ(h.backends(0).last_failure().seconds(), 1700000001);
  EXPECT_EQ(h.backends(0).last_failure().nanos(), 500000000);
  EXPECT_EQ(h.backends(0).last_error(), "timeout: deadline exceeded");
  EXPECT_EQ(h.backends(1).state(), pb::BACKEND_OK);
  EXPECT_EQ(h.backends(2).state(), pb::BACKEND_STATE_UNSPECIFIED);
  EXPECT_FALSE(h.backends(2).has_last_success());
  EXPECT_FALSE(h.backends(2).has_last_failure());
}

TEST_F(AdminServerTest, GetConfigIsTheEffectiveJsonWithSecretsRedacted) {
  Start();
  pb::GetConfigResponse c;
  ASSERT_TRUE(admin_->GetConfig(Ctx().get(), {}, &c).ok());
  nlohmann::json j = nlohmann::json::parse(c.json());
  EXPECT_EQ(j["name"], "Admin Test rev-1234");
  EXPECT_EQ(j["endpoints"].size(), 2u);
  EXPECT_EQ(j["extra_config"]["auth/client-credentials"]["client_id"], "gw");
  EXPECT_EQ(j["extra_config"]["auth/client-credentials"]["client_secret"], "[redacted]");
  EXPECT_THAT(c.json(), Not(HasSubstr("hunter2")));
  EXPECT_EQ(c.config_path(), "/etc/sluice/admin-test.json");
  EXPECT_EQ(c.config_sha256(), view_->config()->sha256_hex);
}

TEST(RedactedConfigJsonTest, HeaderValuesAndSecretLikeKeysAreRedacted) {
  // What a review found GetConfig revealing: a martian header modifier carrying an
  // Authorization value, and credentials under token / x-api-key / credentials keys.
  const nlohmann::json effective = nlohmann::json::parse(R"({
    "name": "gw",
    "extra_config": {
      "auth/client-credentials": {"client_id": "gw", "client_secret": "s1", "endpoint_params": {}},
      "sluice/admin": {"token_env": "ADMIN_TOKEN"}
    },
    "endpoints": [{
      "endpoint": "/a",
      "input_headers": ["Authorization", "X-Api-Key"],
      "backend": [{
        "url_pattern": "/a",
        "extra_config": {
          "modifier/martian": {"fifo.Group": {"modifiers": [
            {"header.Modifier": {"scope": ["request"], "name": "Authorization",
                                 "value": "Bearer s2"}},
            {"header.Modifier": {"scope": ["request"], "name": "X-Innocent", "value": "s3"}}
          ]}},
          "plugin/http-client": {"token": "s4", "x-api-key": "s5", "credentials": ["s6", "s7"],
                                 "headers": {"X-Tenant-Key": "s8"}, "Cookie": "s9"}
        }
      }]
    }]
  })");
  const std::string out = RedactedConfigJson(effective);
  for (const char* secret : {"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"}) {
    EXPECT_THAT(out, Not(HasSubstr(std::string("\"") + secret + "\""))) << secret;
  }
  nlohmann::json j = nlohmann::json::parse(out);
  // What is not a credential stays readable.
  EXPECT_EQ(j["extra_config"]["auth/client-credentials"]["client_id"], "gw");
  EXPECT_EQ(j["endpoints"][0]["input_headers"],
            nlohmann::json::array({"Authorization", "X-Api-Key"}));
  const auto& mod = j["endpoints"][0]["backend"][0]["extra_config"]["modifier/martian"]
                     ["fifo.Group"]["modifiers"][0]["header.Modifier"];
  EXPECT_EQ(mod["name"], "Authorization");
  EXPECT_EQ(mod["value"], "[redacted]");
  EXPECT_EQ(j["endpoints"][0]["backend"][0]["extra_config"]["plugin/http-client"]["credentials"],
            nlohmann::json::array({"[redacted]", "[redacted]"}));
}

TEST_F(AdminServerTest, HealthServiceKnowsTheThreeNames) {
  Start();
  for (const char* name : {"", "admin.Admin", "sluice.Gateway"}) {
    grpc::StatusCode code;
    EXPECT_EQ(HealthOf(name, &code), HealthCheckResponse::SERVING) << name;
    EXPECT_EQ(code, grpc::StatusCode::OK) << name;
  }
  grpc::StatusCode code;
  HealthOf("no.Such", &code);
  EXPECT_EQ(code, grpc::StatusCode::NOT_FOUND);
}

TEST_F(AdminServerTest, DrainFlipsHealthAndResumeRestoresIt) {
  Start();
  pb::DrainResponse d;
  ASSERT_TRUE(admin_->Drain(Ctx().get(), {}, &d).ok());
  EXPECT_EQ(d.state(), pb::DRAINING);
  EXPECT_TRUE(d.changed());
  EXPECT_TRUE(view_->draining());
  // Draining is readiness: only the gateway's name goes down; liveness ("") stays up.
  EXPECT_EQ(HealthOf("sluice.Gateway"), HealthCheckResponse::NOT_SERVING);
  for (const char* name : {"", "admin.Admin"}) {
    EXPECT_EQ(HealthOf(name), HealthCheckResponse::SERVING) << name;
  }
  pb::StatusResponse s;
  ASSERT_TRUE(admin_->Status(Ctx().get(), {}, &s).ok());
  EXPECT_EQ(s.state(), pb::DRAINING);
  ASSERT_TRUE(admin_->Drain(Ctx().get(), {}, &d).ok());
  EXPECT_FALSE(d.changed());  // idempotent

  pb::ResumeResponse r;
  ASSERT_TRUE(admin_->Resume(Ctx().get(), {}, &r).ok());
  EXPECT_EQ(r.state(), pb::SERVING);
  EXPECT_TRUE(r.changed());
  EXPECT_FALSE(view_->draining());
  for (const char* name : {"", "admin.Admin", "sluice.Gateway"}) {
    EXPECT_EQ(HealthOf(name), HealthCheckResponse::SERVING) << name;
  }
}

TEST_F(AdminServerTest, StateChangedOutsideTheAdminApiReachesHealthWatchers) {
  Start();
  HealthCheckRequest req;
  req.set_service("sluice.Gateway");
  auto ctx = Ctx();
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> watch = health_->Watch(ctx.get(), req);
  HealthCheckResponse res;
  ASSERT_TRUE(watch->Read(&res));
  EXPECT_EQ(res.status(), HealthCheckResponse::SERVING);
  view_->Drain();                  // as SIGTERM does, without the admin API
  ASSERT_TRUE(watch->Read(&res));  // the next change, within the call deadline
  EXPECT_EQ(res.status(), HealthCheckResponse::NOT_SERVING);
  view_->Resume();
  ASSERT_TRUE(watch->Read(&res));
  EXPECT_EQ(res.status(), HealthCheckResponse::SERVING);
  ctx->TryCancel();
}

TEST_F(AdminServerTest, TokenGuardsPrivilegedCalls) {
  ASSERT_EQ(setenv("SLUICE_ADMIN_TEST_TOKEN", "s3cret", 1), 0);
  Start(R"(, "token_env": "SLUICE_ADMIN_TEST_TOKEN")");
  pb::StatusResponse s;
  EXPECT_TRUE(admin_->Status(Ctx().get(), {}, &s).ok());
  pb::GetMetricsResponse m;
  EXPECT_TRUE(admin_->GetMetrics(Ctx().get(), {}, &m).ok());
  pb::HealthResponse h;
  EXPECT_TRUE(admin_->Health(Ctx().get(), {}, &h).ok());

  pb::DrainResponse d;
  grpc::Status st = admin_->Drain(Ctx().get(), {}, &d);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  st = admin_->Drain(Ctx("Bearer wrong").get(), {}, &d);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(st.error_message(), Not(HasSubstr("s3cret")));
  EXPECT_FALSE(view_->draining());
  pb::GetConfigResponse c;
  EXPECT_EQ(admin_->GetConfig(Ctx().get(), {}, &c).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  pb::ResumeResponse r;
  EXPECT_EQ(admin_->Resume(Ctx("Bearer nope").get(), {}, &r).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  EXPECT_TRUE(admin_->Drain(Ctx("Bearer s3cret").get(), {}, &d).ok());
  EXPECT_TRUE(view_->draining());
  EXPECT_TRUE(admin_->GetConfig(Ctx("Bearer s3cret").get(), {}, &c).ok());
  EXPECT_TRUE(admin_->Resume(Ctx("Bearer s3cret").get(), {}, &r).ok());
  EXPECT_FALSE(view_->draining());
}

TEST_F(AdminServerTest, RequireTokenForAllLeavesProbesOpen) {
  ASSERT_EQ(setenv("SLUICE_ADMIN_TEST_TOKEN", "s3cret", 1), 0);
  Start(R"(, "token_env": "SLUICE_ADMIN_TEST_TOKEN", "require_token_for_all": true)");
  pb::StatusResponse s;
  EXPECT_EQ(admin_->Status(Ctx().get(), {}, &s).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  pb::GetMetricsResponse m;
  EXPECT_EQ(admin_->GetMetrics(Ctx().get(), {}, &m).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  pb::HealthResponse h;
  EXPECT_EQ(admin_->Health(Ctx().get(), {}, &h).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(admin_->Status(Ctx("Bearer s3cret").get(), {}, &s).ok());
  EXPECT_EQ(s.name(), "Admin Test rev-1234");
  // Load balancers and Kubernetes probe without credentials.
  grpc::StatusCode code;
  EXPECT_EQ(HealthOf("sluice.Gateway", &code), HealthCheckResponse::SERVING);
  EXPECT_EQ(code, grpc::StatusCode::OK);
}

TEST(AdminServerStartTest, MissingTokenVariableFailsStart) {
  ASSERT_EQ(unsetenv("SLUICE_ADMIN_TEST_UNSET"), 0);
  FakeView view(Config(R"(, "token_env": "SLUICE_ADMIN_TEST_UNSET")"));
  absl::StatusOr<std::unique_ptr<AdminServer>> server = AdminServer::Start(view);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("SLUICE_ADMIN_TEST_UNSET"));
}

TEST(AdminServerStartTest, BusyAdminPortFailsStartNamingTheAddress) {
  FakeView first_view(Config());
  absl::StatusOr<std::unique_ptr<AdminServer>> first = AdminServer::Start(first_view);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = (*first)->grpc_address();
  std::string text = kConfig;
  text.replace(text.find("\"127.0.0.1:0\""), 13, "\"" + taken + "\"");
  text.replace(text.find("__TOKEN__"), 9, "");
  config::LoadResult r = config::ParseConfig(
      text, "second.json", [](const char*) { return std::optional<std::string>(); });
  ASSERT_TRUE(r.errors.empty());
  FakeView view(r.config);
  absl::StatusOr<std::unique_ptr<AdminServer>> second = AdminServer::Start(view);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("cannot listen on " + taken));
}

TEST_F(AdminServerTest, MetricsListenerServesPrometheusText) {
  Start();
  HttpResult r = HttpCall(server_->metrics_address(), bhttp::verb::get, "/metrics");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(r.body, HasSubstr("sluice_build_info{name=\"Admin Test rev-1234\",version=\"" +
                                std::string(version::Version()) + "\",revision=\"" +
                                std::string(version::GitRevision()) + "\",config_sha256=\"" +
                                view_->config()->sha256_hex + "\"} 1\n"));
  EXPECT_THAT(r.body, HasSubstr("sluice_http_requests_total{method=\"GET\",route=\"/users/{id}\","
                                "code_class=\"2xx\"} 8\n"));
  EXPECT_THAT(r.body, HasSubstr("sluice_open_connections 5\n"));
  EXPECT_THAT(r.body, HasSubstr("sluice_worker_connections{worker=\"0\"} 3\n"));
  EXPECT_THAT(r.body, HasSubstr("sluice_worker_connections{worker=\"1\"} 2\n"));
  EXPECT_THAT(r.body, HasSubstr("sluice_buffered_request_bytes 4096\n"));
  EXPECT_THAT(r.body, HasSubstr("sluice_draining 0\n"));
  view_->Drain();
  EXPECT_THAT(HttpCall(server_->metrics_address(), bhttp::verb::get, "/metrics?x=1").body,
              HasSubstr("sluice_draining 1\n"));
  EXPECT_EQ(HttpCall(server_->metrics_address(), bhttp::verb::get, "/").status, 404u);
  EXPECT_EQ(HttpCall(server_->metrics_address(), bhttp::verb::get, "/metricsx").status, 404u);
  EXPECT_EQ(HttpCall(server_->metrics_address(), bhttp::verb::post, "/metrics").status, 405u);
}

TEST_F(AdminServerTest, ShutdownIsIdempotentAndStopsTheListeners) {
  Start();
  const std::string metrics = server_->metrics_address();
  server_->Shutdown();
  server_->Shutdown();
  pb::StatusResponse s;
  EXPECT_FALSE(admin_->Status(Ctx().get(), {}, &s).ok());
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  boost::system::error_code ec;
  size_t colon = metrics.rfind(':');
  socket.connect({boost::asio::ip::make_address(metrics.substr(0, colon)),
                  static_cast<uint16_t>(std::stoi(metrics.substr(colon + 1)))},
                 ec);
  EXPECT_TRUE(ec) << "metrics listener still accepting";
}

}  // namespace
}  // namespace sluice::admin
