// The admin plane of the real binary: admin.Admin through the generated stubs, grpc.health.v1,
// /metrics, /__health while draining, the token rules, and a generic client that knows nothing
// but server reflection.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/dynamic_message.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/admin/admin.grpc.pb.h"
#include "tests/integration/harness.h"

namespace sluice::testing {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
namespace pb = ::admin;

constexpr char kName[] = "Admin IT rev-4f2c9e1";
constexpr char kToken[] = "it-s3cret-token-91d3";
// Every admin call answers from memory on loopback; the slow backend is released by the test.
constexpr auto kCallTimeout = std::chrono::seconds(10);

std::string ConfigJson(const TestBackend& backend, const std::string& admin_extra = "") {
  return std::string(R"({
  "version": 3,
  "name": ")") +
         kName + R"(",
  "timeout": "10s",
  "extra_config": {
    "sluice/admin": {"address": "127.0.0.1:0", "metrics_address": "127.0.0.1:0")" +
         admin_extra + R"(},
    "sluice/http": {"workers": 2}
  },
  "endpoints": [
    {"endpoint": "/fast", "backend": [{"host": [")" +
         backend.url() +
         R"("], "url_pattern": "/fast"}]},
    {"endpoint": "/slow", "backend": [{"host": [")" +
         backend.url() +
         R"("], "url_pattern": "/slow"}]}
  ]
})";
}

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& authorization = "") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  if (!authorization.empty()) ctx->AddMetadata("authorization", authorization);
  return ctx;
}

// A started sluice and clients for its admin listeners.
struct Admin {
  explicit Admin(SluiceProcess& proc) : address(proc.admin_address()) {
    EXPECT_FALSE(address.empty()) << "no admin line in the log:\n" << proc.log();
    metrics_port = PortOf(proc.metrics_address());
    channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    stub = pb::Admin::NewStub(channel);
    health = grpc::health::v1::Health::NewStub(channel);
  }

  HealthCheckResponse::ServingStatus HealthOf(const std::string& service) {
    HealthCheckRequest req;
    req.set_service(service);
    HealthCheckResponse res;
    grpc::Status st = health->Check(Ctx().get(), req, &res);
    EXPECT_TRUE(st.ok()) << service << ": " << st.error_message();
    return res.status();
  }

  std::string Scrape() {
    Response res = Fetch(metrics_port, "GET", "/metrics");
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res[boost::beast::http::field::content_type],
              "text/plain; version=0.0.4; charset=utf-8");
    return res.body();
  }

  pb::StatusResponse Status(const std::string& authorization = "") {
    pb::StatusResponse s;
    grpc::Status st = stub->Status(Ctx(authorization).get(), {}, &s);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return s;
  }

  pb::GetMetricsResponse Metrics() {
    pb::GetMetricsResponse m;
    grpc::Status st = stub->GetMetrics(Ctx().get(), {}, &m);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return m;
  }

  std::string address;
  uint16_t metrics_port = 0;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Admin::Stub> stub;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
};

bool HasLine(const std::string& page, const std::string& line) {
  return ("\n" + page).find("\n" + line + "\n") != std::string::npos;
}

int64_t UnixMicros(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
int64_t UnixMicros(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

TEST(AdminIntegrationTest, StatusDescribesTheRunningConfig) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"ok":true})"); });
  const std::string config = ConfigJson(backend);
  const auto before = std::chrono::system_clock::now();
  SluiceProcess proc(config);
  Admin admin(proc);
  ASSERT_FALSE(admin.address.empty());
  const auto ready = std::chrono::system_clock::now();
  CommandResult version = RunSluice({"version"});
  std::smatch v;
  ASSERT_TRUE(std::regex_search(version.out, v, std::regex(R"(Version (\S+) \(revision (\S+)\))")))
      << version.out;
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);

  pb::StatusResponse s = admin.Status();
  EXPECT_EQ(s.name(), kName);
  EXPECT_EQ(s.config_version(), 3);
  EXPECT_EQ(s.config_sha256(), Sha256Hex(config));
  EXPECT_EQ(s.config_path(), proc.config_path());
  EXPECT_GE(UnixMicros(s.config_loaded_at()), UnixMicros(before));
  EXPECT_LE(UnixMicros(s.config_loaded_at()), UnixMicros(ready));
  EXPECT_EQ(s.sluice_version(), v[1].str());
  EXPECT_EQ(s.git_revision(), v[2].str());
  EXPECT_GE(UnixMicros(s.started_at()), UnixMicros(s.config_loaded_at()));
  EXPECT_LE(UnixMicros(s.started_at()), UnixMicros(ready));
  const int64_t uptime_us = s.uptime().seconds() * 1000000 + s.uptime().nanos() / 1000;
  EXPECT_GE(uptime_us, 0);
  EXPECT_LE(uptime_us, UnixMicros(std::chrono::system_clock::now()) - UnixMicros(before));
  EXPECT_EQ(s.pid(), proc.pid());
  EXPECT_EQ(s.hostname(), host);
  EXPECT_EQ(s.public_address(), "0.0.0.0:" + std::to_string(proc.port()));
  EXPECT_EQ(s.admin_address(), admin.address);
  EXPECT_EQ(s.metrics_address(), proc.metrics_address());
  EXPECT_THAT(s.admin_address(), ::testing::StartsWith("127.0.0.1:"));
  EXPECT_THAT(s.metrics_address(), ::testing::StartsWith("127.0.0.1:"));
  EXPECT_EQ(s.workers(), 2);
  EXPECT_EQ(s.endpoints(), 2);
  EXPECT_EQ(s.state(), pb::SERVING);
  EXPECT_EQ(s.unprotected_size(), 0);
  // The startup line carries the same addresses.
  EXPECT_TRUE(proc.LogHas("admin listening on " + s.admin_address() + ", metrics on " +
                          s.metrics_address()));
}

TEST(AdminIntegrationTest, StatusListsTheProtectionsARunWithAllowUnprotectedLacks) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"ok":true})"); });
  nlohmann::json config = nlohmann::json::parse(ConfigJson(backend));
  config["endpoints"][1]["extra_config"]["qos/ratelimit/tiered"] = {
      {"tiers", nlohmann::json::array()}};
  SluiceProcess proc(config.dump(), {"--allow-unprotected"});
  Admin admin(proc);
  ASSERT_FALSE(admin.address.empty());
  pb::StatusResponse s = admin.Status();
  ASSERT_EQ(s.unprotected_size(), 1) << s.DebugString();
  EXPECT_EQ(s.unprotected(0), "endpoints[1].extra_config.\"qos/ratelimit/tiered\"");
}

// sluice/admin.tls: the admin API over TLS with its own certificate; with client_ca only
// operators with a certificate of that CA are served.
TEST(AdminIntegrationTest, AdminListenerServesTlsWithItsOwnCertificate) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/admin-tls";
  CommandResult made =
      RunCommand({"/usr/bin/python3", Runfile("tests/integration/tls_fixtures.py"), dir});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const auto read = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"ok":true})"); });
  SluiceProcess proc(ConfigJson(
      backend, R"(, "tls": {"public_key": ")" + dir + R"(/server.pem", "private_key": ")" + dir +
                   R"(/server.key", "client_ca": ")" + dir + R"(/ca.pem"})"));
  const std::string address = proc.admin_address();
  ASSERT_FALSE(address.empty()) << proc.log();
  // The certificate names localhost: gRPC checks that name (an override, so that no resolver
  // runs for "localhost": c-ares leaks a few bytes per lookup under LeakSanitizer).
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  const auto status = [&](std::shared_ptr<grpc::ChannelCredentials> credentials) {
    auto stub = pb::Admin::NewStub(grpc::CreateCustomChannel(address, credentials, args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    pb::StatusResponse s;
    grpc::Status st = stub->Status(&ctx, {}, &s);
    return std::make_pair(st, s);
  };
  grpc::SslCredentialsOptions operator_tls;
  operator_tls.pem_root_certs = read(dir + "/ca.pem");
  operator_tls.pem_private_key = read(dir + "/client.key");
  operator_tls.pem_cert_chain = read(dir + "/client.pem");
  auto [ok, s] = status(grpc::SslCredentials(operator_tls));
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(s.name(), kName);
  grpc::SslCredentialsOptions no_certificate;
  no_certificate.pem_root_certs = read(dir + "/ca.pem");
  EXPECT_FALSE(status(grpc::SslCredentials(no_certificate)).first.ok());
  EXPECT_FALSE(status(grpc::InsecureChannelCredentials()).first.ok()) << "plaintext is refused";
}

TEST(AdminIntegrationTest, EnvOverridesShowInStatusConfigAndMetrics) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"ok":true})"); });
  SluiceProcess proc(ConfigJson(backend), {}, {"SLUICE_NAME=Overridden rev-77"});
  Admin admin(proc);
  ASSERT_FALSE(admin.address.empty());
  EXPECT_EQ(admin.Status().name(), "Overridden rev-77");
  pb::GetConfigResponse c;
  ASSERT_TRUE(admin.stub->GetConfig(Ctx().get(), {}, &c).ok());
  nlohmann::json effective = nlohmann::json::parse(c.json());
  EXPECT_EQ(effective["name"], "Overridden rev-77");
  EXPECT_EQ(effective["endpoints"].size(), 2u);
  EXPECT_EQ(effective["extra_config"]["sluice/http"]["workers"], 2);
  EXPECT_EQ(c.config_path(), proc.config_path());
  EXPECT_THAT(admin.Scrape(), HasSubstr("sluice_build_info{name=\"Overridden rev-77\","));
}

TEST(AdminIntegrationTest, NRequestsShowExactlyNInGetMetricsAndPrometheus) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"ok":true})"); });
  SluiceProcess proc(ConfigJson(backend));
  Admin admin(proc);
  ASSERT_FALSE(admin.address.empty());
  constexpr uint64_t kN = 7;
  HttpClient client(proc.port());
  uint64_t bytes = 0;
  for (uint64_t i = 0; i < kN; ++i) {
    Response res = client.Get("/fast");
    ASSERT_EQ(res.result_int(), 200u) << client.error();
    bytes += res.body().size();
  }
  // Neither the health check nor an unknown path is an endpoint.
  EXPECT_EQ(client.Get("/__health").result_int(), 200u);
  EXPECT_EQ(client.Get("/nowhere").result_int(), 404u);

  pb::GetMetricsResponse m = admin.Metrics();
  ASSERT_EQ(m.endpoints_size(), 2);
  const pb::EndpointMetrics& fast = m.endpoints(0);
  EXPECT_EQ(fast.method(), "GET");
  EXPECT_EQ(fast.path(), "/fast");
  EXPECT_EQ(fast.requests_total(), kN);
  EXPECT_EQ(fast.requests().status_2xx(), kN);
  EXPECT_EQ(fast.in_flight(), 0);
  EXPECT_EQ(fast.latency().count(), kN);
  EXPECT_GT(fast.latency().sum_seconds(), 0);
  EXPECT_GT(fast.latency().p50_seconds(), 0);
  EXPECT_EQ(fast.bytes_out(), bytes);
  EXPECT_EQ(m.endpoints(1).path(), "/slow");
  EXPECT_EQ(m.endpoints(1).requests_total(), 0u);
  ASSERT_EQ(m.backends_size(), 2);
  EXPECT_EQ(m.backends(0).url_pattern(), "/fast");
  EXPECT_EQ(m.backends(0).calls(), kN);
  EXPECT_EQ(m.backends(0).failures_total(), 0u);
  EXPECT_EQ(m.backends(0).latency().count(), kN);
  EXPECT_EQ(m.backends(1).calls(), 0u);
  EXPECT_GE(m.process().total_connections(), 1u);
  EXPECT_GE(m.process().open_connections(), 1);  // `client` is still connected
  EXPECT_GT(m.process().resident_memory_bytes(), 0u);

  pb::HealthResponse h;
  ASSERT_TRUE(admin.stub->Health(Ctx().get(), {}, &h).ok());
  ASSERT_EQ(h.backends_size(), 2);
  EXPECT_EQ(h.backends(0).state(), pb::BACKEND_OK);
  EXPECT_TRUE(h.backends(0).has_last_success());
  // Stamped on the wall clock when the calls above answered.
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  EXPECT_NEAR(static_cast<double>(h.backends(0).last_success().seconds()),
              static_cast<double>(now_s), 60.0);
  EXPECT_EQ(h.backends(1).state(), pb::BACKEND_STATE_UNSPECIFIED);

  const std::string page = admin.Scrape();
  const std::string route = R"(method="GET",route="/fast")";
  EXPECT_TRUE(HasLine(page, "sluice_http_requests_total{" + route + R"(,code_class="2xx"} 7)"))
      << page;
  EXPECT_TRUE(HasLine(page, "sluice_http_requests_total{" + route + R"(,code_class="5xx"} 0)"));
  EXPECT_TRUE(HasLine(page, "sluice_http_request_duration_seconds_count{" + route + "} 7"));
  EXPECT_TRUE(
      HasLine(page, "sluice_http_request_duration_seconds_bucket{" + route + R"(,le="+Inf"} 7)"));
  EXPECT_TRUE(
      HasLine(page, "sluice_http_response_bytes_total{" + route + "} " + std::to_string(bytes)));
  EXPECT_TRUE(HasLine(page, "sluice_http_requests_in_flight{" + route + "} 0"));
  EXPECT_TRUE(HasLine(page, "sluice_backend_requests_total{" + route + ",backend=\"" +
                                backend.url() + "/fast\"} 7"))
      << page;
  EXPECT_TRUE(HasLine(page, "sluice_backend_failures_total{" + route + ",backend=\"" +
                                backend.url() + "/fast\",kind=\"timeout\"} 0"));
  EXPECT_TRUE(HasLine(page, "sluice_draining 0"));
  const pb::StatusResponse s = admin.Status();
  EXPECT_TRUE(HasLine(page, "sluice_build_info{name=\"" + std::string(kName) + "\",version=\"" +
                                s.sluice_version() + "\",revision=\"" + s.git_revision() +
                                "\",config_sha256=\"" + s.config_sha256() + "\"} 1"))
      << page;
  EXPECT_EQ(Fetch(admin.metrics_port, "GET", "/other").result_int(), 404u);
}

// Kept-alive connections opened one after another alternate between the two workers, and both
// admin views show each worker's count.
TEST(AdminIntegrationTest, ConnectionsPerWorkerShowInGetMetricsAndPrometheus) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"ok":true})"); });
  SluiceProcess proc(ConfigJson(backend));
  Admin admin(proc);
  ASSERT_FALSE(admin.address.empty());
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::make_unique<HttpClient>(proc.port()));
    ASSERT_EQ(clients.back()->Get("/fast").result_int(), 200u) << clients.back()->error();
  }
  pb::GetMetricsResponse m = admin.Metrics();
  EXPECT_EQ(m.process().open_connections(), 6);
  EXPECT_THAT(m.process().worker_connections(), ElementsAre(3, 3));
  const std::string page = admin.Scrape();
  EXPECT_TRUE(HasLine(page, R"(sluice_worker_connections{worker="0"} 3)")) << page;
  EXPECT_TRUE(HasLine(page, R"(sluice_worker_connections{worker="1"} 3)"));

  // Two of them close: the counts follow.
  clients.resize(4);
  EXPECT_TRUE(Eventually([&] { return admin.Metrics().process().open_connections() == 4; }));
  m = admin.Metrics();
  ASSERT_EQ(m.process().worker_connections_size(), 2);
  EXPECT_EQ(m.process().worker_connections(0) + m.process().worker_connections(1), 4);
}

// A client thread, joined (after opening the gate it may wait behind) even if an assertion fails.
struct Joined {
  Gate& gate;
  std::thread thread;
  ~Joined() {
    gate.Open();
    if (thread.joinable()) thread.join();
  }
};

TEST(AdminIntegrationTest, DrainFlipsHealthWhileInFlightRequestsComplete) {
  std::promise<void> arrived;
  std::atomic<bool> arrived_once{false};
  Gate gate;
  TestBackend backend([&arrived, &arrived_once, opened = gate.opened()](const Request& req) {
    if (req.target() == "/slow") {
      if (!arrived_once.exchange(true)) arrived.set_value();
      opened.wait_for(kCallTimeout);
      return TestBackend::Json(R"({"slow":"done"})");
    }
    return TestBackend::Json(R"({"ok":true})");
  });
  SluiceProcess proc(ConfigJson(backend));
  Admin admin(proc);
  ASSERT_FALSE(admin.address.empty());
  for (const char* name : {"", "admin.Admin", "sluice.Gateway"}) {
    EXPECT_EQ(admin.HealthOf(name), HealthCheckResponse::SERVING) << name;
  }

  Response slow_response;
  Joined slow{gate, std::thread([&] { slow_response = Fetch(proc.port(), "GET", "/slow"); })};
  ASSERT_EQ(arrived.get_future().wait_for(kCallTimeout), std::future_status::ready);
  EXPECT_EQ(admin.Metrics().endpoints(1).in_flight(), 1);

  pb::DrainResponse d;
  ASSERT_TRUE(admin.stub->Drain(Ctx().get(), {}, &d).ok());
  EXPECT_EQ(d.state(), pb::DRAINING);
  EXPECT_TRUE(d.changed());
  // Draining is readiness: only the gateway's name goes down; liveness ("") stays up.
  EXPECT_EQ(admin.HealthOf("sluice.Gateway"), HealthCheckResponse::NOT_SERVING);
  for (const char* name : {"", "admin.Admin"}) {
    EXPECT_EQ(admin.HealthOf(name), HealthCheckResponse::SERVING) << name;
  }
  Response health = Fetch(proc.port(), "GET", "/__health");
  EXPECT_EQ(health.result_int(), 503u);
  EXPECT_EQ(nlohmann::json::parse(health.body())["status"], "draining") << health.body();
  EXPECT_EQ(admin.Status().state(), pb::DRAINING);
  EXPECT_TRUE(HasLine(admin.Scrape(), "sluice_draining 1"));
  // Draining stops readiness, not service: new requests are still answered.
  EXPECT_EQ(Fetch(proc.port(), "GET", "/fast").result_int(), 200u);

  // The request that was in flight when Drain came completes normally.
  gate.Open();
  slow.thread.join();
  EXPECT_EQ(slow_response.result_int(), 200u);
  EXPECT_EQ(nlohmann::json::parse(slow_response.body())["slow"], "done");

  pb::ResumeResponse r;
  ASSERT_TRUE(admin.stub->Resume(Ctx().get(), {}, &r).ok());
  EXPECT_EQ(r.state(), pb::SERVING);
  EXPECT_TRUE(r.changed());
  for (const char* name : {"", "admin.Admin", "sluice.Gateway"}) {
    EXPECT_EQ(admin.HealthOf(name), HealthCheckResponse::SERVING) << name;
  }
  health = Fetch(proc.port(), "GET", "/__health");
  EXPECT_EQ(health.result_int(), 200u);
  EXPECT_EQ(nlohmann::json::parse(health.body())["status"], "ok");
  EXPECT_TRUE(HasLine(admin.Scrape(), "sluice_draining 0"));
}

TEST(AdminIntegrationTest, TokenGuardsDrainResumeAndConfig) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"ok":true})"); });
  SluiceProcess proc(ConfigJson(backend, R"(, "token_env": "SLUICE_ADMIN_TOKEN")"), {},
                     {std::string("SLUICE_ADMIN_TOKEN=") + kToken});
  Admin admin(proc);
  ASSERT_FALSE(admin.address.empty());
  const std::string bearer = std::string("Bearer ") + kToken;
  EXPECT_EQ(admin.Status().name(), kName);  // observing needs no token

  pb::DrainResponse d;
  EXPECT_EQ(admin.stub->Drain(Ctx().get(), {}, &d).error_code(), grpc::UNAUTHENTICATED);
  grpc::Status wrong = admin.stub->Drain(Ctx("Bearer not-the-token").get(), {}, &d);
  EXPECT_EQ(wrong.error_code(), grpc::UNAUTHENTICATED);
  EXPECT_THAT(wrong.error_message(), Not(HasSubstr(kToken)));
  EXPECT_EQ(admin.HealthOf("sluice.Gateway"), HealthCheckResponse::SERVING);
  EXPECT_EQ(Fetch(proc.port(), "GET", "/__health").result_int(), 200u);

  pb::GetConfigResponse c;
  EXPECT_EQ(admin.stub->GetConfig(Ctx().get(), {}, &c).error_code(), grpc::UNAUTHENTICATED);
  ASSERT_TRUE(admin.stub->GetConfig(Ctx(bearer).get(), {}, &c).ok());
  EXPECT_THAT(c.json(), HasSubstr("SLUICE_ADMIN_TOKEN"));  // the variable's name...
  EXPECT_THAT(c.json(), Not(HasSubstr(kToken)));           // ...never its value

  ASSERT_TRUE(admin.stub->Drain(Ctx(bearer).get(), {}, &d).ok());
  EXPECT_EQ(Fetch(proc.port(), "GET", "/__health").result_int(), 503u);
  pb::ResumeResponse r;
  EXPECT_EQ(admin.stub->Resume(Ctx().get(), {}, &r).error_code(), grpc::UNAUTHENTICATED);
  EXPECT_EQ(Fetch(proc.port(), "GET", "/__health").result_int(), 503u);
  ASSERT_TRUE(admin.stub->Resume(Ctx(bearer).get(), {}, &r).ok());
  EXPECT_EQ(Fetch(proc.port(), "GET", "/__health").result_int(), 200u);

  EXPECT_THAT(proc.log(), Not(HasSubstr(kToken)));
}

TEST(AdminIntegrationTest, GetConfigRedactsHeaderValuesAndCredentials) {
  // The review's finding: an Authorization value in a martian header modifier, and token /
  // x-api-key / credentials keys, were readable through GetConfig.
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"ok":true})"); });
  std::string config = ConfigJson(backend);
  const std::string backend_entry = R"("url_pattern": "/fast")";
  config.replace(config.find(backend_entry), backend_entry.size(), R"("url_pattern": "/fast",
      "extra_config": {"modifier/martian": {"header.Modifier": {"scope": ["request"],
          "name": "Authorization", "value": "Bearer leaked-bearer-1"}},
        "plugin/http-client": {"token": "leaked-token-2", "x-api-key": "leaked-key-3",
                               "credentials": "leaked-credentials-4"}})");
  SluiceProcess proc(config);
  Admin admin(proc);
  ASSERT_FALSE(admin.address.empty());
  pb::GetConfigResponse c;
  ASSERT_TRUE(admin.stub->GetConfig(Ctx().get(), {}, &c).ok());
  EXPECT_THAT(c.json(), HasSubstr("\"Authorization\""));  // the header's name stays
  EXPECT_THAT(c.json(), Not(HasSubstr("leaked")));
}

TEST(AdminIntegrationTest, AnOpenAdminPortWithoutTokenIsAnErrorInTheLog) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"ok":true})"); });
  SluiceProcess proc(ConfigJson(backend), {}, {"SLUICE_ADMIN_ADDRESS=0.0.0.0:0"});
  Admin admin(proc);  // waits for the admin line, logged after the check
  EXPECT_TRUE(proc.LogHas("is NOT on loopback and has NO token"));
  SluiceProcess quiet(ConfigJson(backend));
  Admin quiet_admin(quiet);
  EXPECT_THAT(quiet.log(), Not(HasSubstr("NOT on loopback")));
}

TEST(AdminIntegrationTest, TokenRequiredForAllButProbes) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"ok":true})"); });
  SluiceProcess proc(
      ConfigJson(backend, R"(, "token_env": "SLUICE_ADMIN_TOKEN", "require_token_for_all": true)"),
      {}, {std::string("SLUICE_ADMIN_TOKEN=") + kToken});
  Admin admin(proc);
  ASSERT_FALSE(admin.address.empty());
  pb::StatusResponse s;
  EXPECT_EQ(admin.stub->Status(Ctx().get(), {}, &s).error_code(), grpc::UNAUTHENTICATED);
  pb::GetMetricsResponse m;
  EXPECT_EQ(admin.stub->GetMetrics(Ctx().get(), {}, &m).error_code(), grpc::UNAUTHENTICATED);
  pb::HealthResponse h;
  EXPECT_EQ(admin.stub->Health(Ctx().get(), {}, &h).error_code(), grpc::UNAUTHENTICATED);
  EXPECT_EQ(admin.Status(std::string("Bearer ") + kToken).name(), kName);
  EXPECT_EQ(admin.HealthOf("sluice.Gateway"), HealthCheckResponse::SERVING);
  EXPECT_THAT(proc.log(), Not(HasSubstr(kToken)));
}

// --- a client with no admin stubs: everything it knows comes from server reflection ----------

std::string ToBytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// Calls `method` ("/pkg.Service/Method") with a serialized request; returns the reply's bytes.
grpc::Status GenericCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                         const std::string& request, std::string* reply) {
  grpc::GenericStub stub(channel);
  grpc::Slice slice(request);
  grpc::ByteBuffer send(&slice, 1);
  grpc::ByteBuffer received;
  std::promise<grpc::Status> done;
  auto ctx = Ctx();
  stub.UnaryCall(ctx.get(), method, grpc::StubOptions(), &send, &received,
                 [&done](grpc::Status st) { done.set_value(std::move(st)); });
  std::future<grpc::Status> f = done.get_future();
  if (f.wait_for(kCallTimeout * 2) != std::future_status::ready) {
    ctx->TryCancel();
    f.wait();
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no answer");
  }
  grpc::Status st = f.get();
  if (st.ok()) *reply = ToBytes(received);
  return st;
}

TEST(AdminIntegrationTest, GenericReflectionClientCallsStatusWithoutStubs) {
  namespace refl = ::grpc::reflection::v1alpha;
  namespace proto = ::google::protobuf;
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"ok":true})"); });
  SluiceProcess proc(ConfigJson(backend));
  const std::string address = proc.admin_address();
  ASSERT_FALSE(address.empty()) << proc.log();
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());

  // 1. List the services, then fetch the files that define admin.Admin and grpc.health.v1.Health
  //    (with their dependencies) over one reflection stream.
  proto::SimpleDescriptorDatabase db;
  std::vector<std::string> services;
  std::vector<std::string> files;
  {
    auto stub = refl::ServerReflection::NewStub(channel);
    auto ctx = Ctx();
    auto stream = stub->ServerReflectionInfo(ctx.get());
    refl::ServerReflectionRequest req;
    refl::ServerReflectionResponse res;
    req.set_list_services("");
    ASSERT_TRUE(stream->Write(req));
    ASSERT_TRUE(stream->Read(&res));
    for (const refl::ServiceResponse& s : res.list_services_response().service()) {
      services.push_back(s.name());
    }
    for (const char* symbol : {"admin.Admin", "grpc.health.v1.Health"}) {
      req.set_file_containing_symbol(symbol);
      ASSERT_TRUE(stream->Write(req));
      ASSERT_TRUE(stream->Read(&res));
      ASSERT_TRUE(res.has_file_descriptor_response())
          << symbol << ": " << res.error_response().error_message();
      for (const std::string& bytes : res.file_descriptor_response().file_descriptor_proto()) {
        proto::FileDescriptorProto file;
        ASSERT_TRUE(file.ParseFromString(bytes));
        files.push_back(file.name());
        db.Add(file);  // false for a file already sent: fine
      }
    }
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
  EXPECT_THAT(services, ::testing::IsSupersetOf({"admin.Admin", "grpc.health.v1.Health",
                                                 "grpc.reflection.v1alpha.ServerReflection"}));
  EXPECT_THAT(files, ::testing::Contains("grpc/health/v1/health.proto"));
  EXPECT_THAT(files, ::testing::Contains("google/protobuf/timestamp.proto"));

  // 2. Build the types at run time and call admin.Admin/Status with a generic stub.
  proto::DescriptorPool pool(&db);
  proto::DynamicMessageFactory factory(&pool);
  const proto::ServiceDescriptor* admin = pool.FindServiceByName("admin.Admin");
  ASSERT_NE(admin, nullptr);
  const proto::MethodDescriptor* status = admin->FindMethodByName("Status");
  ASSERT_NE(status, nullptr);
  for (const char* m : {"GetMetrics", "Health", "GetConfig", "Drain", "Resume"}) {
    EXPECT_NE(admin->FindMethodByName(m), nullptr) << m;
  }
  std::unique_ptr<proto::Message> request(factory.GetPrototype(status->input_type())->New());
  std::string reply_bytes;
  grpc::Status st =
      GenericCall(channel, "/admin.Admin/Status", request->SerializeAsString(), &reply_bytes);
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::unique_ptr<proto::Message> reply(factory.GetPrototype(status->output_type())->New());
  ASSERT_TRUE(reply->ParseFromString(reply_bytes));
  const proto::Descriptor* type = reply->GetDescriptor();
  const proto::Reflection* fields = reply->GetReflection();
  EXPECT_EQ(fields->GetString(*reply, type->FindFieldByName("name")), kName);
  EXPECT_EQ(fields->GetInt32(*reply, type->FindFieldByName("pid")), proc.pid());
  EXPECT_EQ(fields->GetEnum(*reply, type->FindFieldByName("state"))->name(), "SERVING");

  // 3. The same for grpc.health.v1.Health/Check: its types came from reflection too.
  const proto::ServiceDescriptor* health = pool.FindServiceByName("grpc.health.v1.Health");
  ASSERT_NE(health, nullptr);
  const proto::MethodDescriptor* check = health->FindMethodByName("Check");
  ASSERT_NE(check, nullptr);
  std::unique_ptr<proto::Message> hreq(factory.GetPrototype(check->input_type())->New());
  hreq->GetReflection()->SetString(hreq.get(), hreq->GetDescriptor()->FindFieldByName("service"),
                                   "sluice.Gateway");
  st =
      GenericCall(channel, "/grpc.health.v1.Health/Check", hreq->SerializeAsString(), &reply_bytes);
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::unique_ptr<proto::Message> hres(factory.GetPrototype(check->output_type())->New());
  ASSERT_TRUE(hres->ParseFromString(reply_bytes));
  EXPECT_EQ(hres->GetReflection()
                ->GetEnum(*hres, hres->GetDescriptor()->FindFieldByName("status"))
                ->name(),
            "SERVING");
}

}  // namespace
}  // namespace sluice::testing
