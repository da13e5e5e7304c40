#include "admin/admin_server.h"

#include <chrono>
#include <fstream>
#include <future>
#include <iterator>
#include <optional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "admin/admin_service.h"
#include "admin/metrics_handler.h"
#include "admin/prometheus.h"
#include "admin/token.h"
#include "boost/asio/post.hpp"
#include "gateway/common/logging.h"
#include "gateway/http/server.h"
#include "gateway/version/version.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"

namespace sluice::admin {
namespace {

// Names grpc.health.v1 answers for: the server as a whole (""), this service, and the public
// gateway (what a load balancer that probes over gRPC asks about). Draining is readiness: only
// the gateway's name follows it. The process and its admin API stay SERVING, so a liveness probe
// on "" never restarts an instance that is draining on purpose.
constexpr const char* kHealthNames[] = {"", "admin.Admin", "sluice.Gateway"};
constexpr const char* kReadinessName = "sluice.Gateway";
// How often the serving state is re-read. The view has no change notification and the state also
// changes outside the admin API (SIGTERM); 100 ms keeps health probes in step at no real cost.
constexpr absl::Duration kStatePollInterval = absl::Milliseconds(100);
// Shutdown waits this long for admin calls and scrapes in progress (all short) before cutting.
constexpr auto kShutdownGrace = std::chrono::seconds(1);
// Admin calls are small and rare: bound the threads gRPC's synchronous server may create.
constexpr int kMaxAdminThreads = 8;
// GET /metrics carries no body.
constexpr uint64_t kMetricsMaxBodyBytes = 4096;

bool IsLoopback(const config::ListenAddress& a) {
  return a.ip.rfind("127.", 0) == 0 || a.ip == "::1";
}

class AdminServerImpl final : public AdminServer {
 public:
  explicit AdminServerImpl(runtime::InstanceView& view) : view_(view) {}
  ~AdminServerImpl() override { Shutdown(); }

  absl::Status Init(const config::AdminConfig& config, TokenPolicy tokens);

  std::string grpc_address() const override { return grpc_address_; }
  std::string metrics_address() const override { return metrics_address_; }
  void Shutdown() override;

 private:
  absl::Status StartMetrics(const config::ListenAddress& address);
  absl::Status StartGrpc(const config::ListenAddress& address, TokenPolicy tokens);
  void StopMetrics();
  std::string RenderMetrics() const;
  // Brings the grpc.health.v1 statuses in line with the view's serving state.
  void SyncHealth() ABSL_LOCKS_EXCLUDED(mu_);
  void SyncHealthLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WatchState() ABSL_LOCKS_EXCLUDED(mu_);

  runtime::InstanceView& view_;
  std::string grpc_address_;
  std::string metrics_address_;

  std::unique_ptr<MetricsHandler> metrics_handler_;
  std::unique_ptr<http::WorkerPool> metrics_pool_;
  std::unique_ptr<http::Server> metrics_server_;

  std::unique_ptr<AdminService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::thread watcher_;

  // Shared by the watcher thread, Drain/Resume calls (gRPC threads) and Shutdown.
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<runtime::ServingState> reported_ ABSL_GUARDED_BY(mu_);
};

absl::Status AdminServerImpl::Init(const config::AdminConfig& config, TokenPolicy tokens) {
  const bool has_token = tokens.Required(CallClass::kPrivileged);
  if (absl::Status st = StartMetrics(config.metrics_address); !st.ok()) return st;
  if (absl::Status st = StartGrpc(config.address, std::move(tokens)); !st.ok()) return st;
  service_->SetAddresses(grpc_address_, metrics_address_);
  SyncHealth();
  watcher_ = std::thread([this] { WatchState(); });
  if (!has_token) {
    if (!IsLoopback(config.address)) {
      // An error, not a warning: the process still starts (the operator asked for this
      // address), but the line must stand out in any log view.
      log::Error(
          "admin listener {} is NOT on loopback and has NO token: anyone who can reach it can "
          "drain this instance and read its configuration (GetConfig). Set "
          "extra_config.\"sluice/admin\".token_env or token_file, or bind 127.0.0.1",
          grpc_address_);
    }
  } else {
    log::Info("admin: bearer token required for {}", config.require_token_for_all
                                                         ? "every admin.Admin call"
                                                         : "Drain, Resume, Reload and GetConfig");
  }
  return absl::OkStatus();
}

absl::Status AdminServerImpl::StartMetrics(const config::ListenAddress& address) {
  metrics_handler_ = std::make_unique<MetricsHandler>([this] { return RenderMetrics(); });
  metrics_pool_ = std::make_unique<http::WorkerPool>(1);
  http::ServerOptions options;
  options.listen_ip = address.ip;
  options.port = address.port;
  options.workers = 1;
  options.max_body_bytes = kMetricsMaxBodyBytes;
  options.access_log = false;
  options.reuse_port = false;  // a second instance must fail to bind, not share the scrapes
  metrics_server_ = std::make_unique<http::Server>(options, *metrics_pool_, *metrics_handler_);
  if (absl::Status st = metrics_server_->Start(); !st.ok()) {
    metrics_server_.reset();
    metrics_pool_.reset();
    return absl::UnavailableError(absl::StrCat("metrics listener: ", st.message()));
  }
  metrics_pool_->Start();
  metrics_address_ = config::ListenAddress{address.ip, metrics_server_->port()}.ToString();
  return absl::OkStatus();
}

namespace {

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Plaintext, or TLS with the admin's own certificate (checked at load by main's CheckAdminTls),
// requiring client certificates signed by client_ca when set.
std::shared_ptr<grpc::ServerCredentials> Credentials(const config::AdminConfig& admin) {
  if (admin.tls.certificate.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      admin.tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                  : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_key_cert_pairs.push_back(
      {ReadWhole(admin.tls.private_key), ReadWhole(admin.tls.certificate)});
  if (!admin.tls_client_ca.empty()) options.pem_root_certs = ReadWhole(admin.tls_client_ca);
  return grpc::SslServerCredentials(options);
}

}  // namespace

absl::Status AdminServerImpl::StartGrpc(const config::ListenAddress& address, TokenPolicy tokens) {
  service_ = std::make_unique<AdminService>(view_, std::move(tokens), [this] { SyncHealth(); });
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // Reflection answers from the generated descriptor pool; referencing health.proto's messages
  // keeps it linked, so grpcurl can call grpc.health.v1.Health through reflection alone.
  (void)grpc::health::v1::HealthCheckResponse::descriptor();

  grpc::ServerBuilder builder;
  int port = 0;
  const std::string requested = address.ToString();
  builder.AddListeningPort(requested, Credentials(view_.config()->admin), &port);
  // Two instances on one host must not silently share the admin port: a Drain sent to it would
  // reach either of them.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  grpc::ResourceQuota quota("sluice-admin");
  quota.SetMaxThreads(kMaxAdminThreads);
  builder.SetResourceQuota(quota);
  builder.RegisterService(service_.get());
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || port == 0) {
    grpc_server_.reset();
    return absl::UnavailableError(
        absl::StrCat("admin listener: cannot listen on ", requested,
                     " (address in use, or not an address of this host)"));
  }
  grpc_address_ = config::ListenAddress{address.ip, static_cast<uint16_t>(port)}.ToString();
  return absl::OkStatus();
}

std::string AdminServerImpl::RenderMetrics() const {
  std::shared_ptr<const config::ServiceConfig> cfg = view_.config();
  PrometheusInput in;
  in.name = cfg->name;
  in.version = std::string(version::Version());
  in.revision = std::string(version::GitRevision());
  in.config_sha256 = cfg->sha256_hex;
  in.metrics = view_.metrics();
  in.process = view_.process();
  in.draining = view_.serving_state() == runtime::ServingState::kDraining;
  in.started_at = view_.info().started_at;
  in.reloads = view_.reloads();
  return RenderPrometheus(in);
}

void AdminServerImpl::SyncHealth() {
  absl::MutexLock lock(&mu_);
  SyncHealthLocked();
}

void AdminServerImpl::SyncHealthLocked() {
  if (stopping_ || grpc_server_ == nullptr) return;
  const runtime::ServingState state = view_.serving_state();
  if (reported_ == state) return;
  grpc::HealthCheckServiceInterface* health = grpc_server_->GetHealthCheckService();
  if (health == nullptr) return;
  if (!reported_) {
    for (const char* name : kHealthNames) health->SetServingStatus(name, true);  // alive
  }
  health->SetServingStatus(kReadinessName, state == runtime::ServingState::kServing);
  reported_ = state;
}

void AdminServerImpl::WatchState() {
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), kStatePollInterval)) {
    SyncHealthLocked();
  }
}

void AdminServerImpl::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (watcher_.joinable()) watcher_.join();
  if (grpc_server_ != nullptr) {
    // Probes see NOT_SERVING (and the status freezes) before the listener goes away.
    if (grpc::HealthCheckServiceInterface* health = grpc_server_->GetHealthCheckService()) {
      health->Shutdown();
    }
    grpc_server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
    grpc_server_->Wait();
    grpc_server_.reset();
  }
  StopMetrics();
}

void AdminServerImpl::StopMetrics() {
  if (metrics_server_ == nullptr) return;
  metrics_server_->BeginShutdown();
  // The listener drains on its own thread: wait until that has run (handlers run in order), then
  // for the last scrape to be written.
  std::promise<void> drained;
  boost::asio::post(metrics_pool_->context(0), [&drained] { drained.set_value(); });
  drained.get_future().wait_for(kShutdownGrace);
  const auto give_up = std::chrono::steady_clock::now() + kShutdownGrace;
  while (metrics_server_->open_connections() > 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  metrics_pool_->Stop();
  if (metrics_server_->open_connections() > 0) {
    // A connection object still refers to the server; destroying the server under it would be
    // a use-after-free. This only happens at exit with a stuck client: let the process reclaim it.
    log::Warn("metrics listener: {} connection(s) still open at shutdown",
              metrics_server_->open_connections());
    (void)metrics_server_.release();
    (void)metrics_pool_.release();
    (void)metrics_handler_.release();
    return;
  }
  metrics_server_.reset();
  metrics_pool_.reset();
  metrics_handler_.reset();
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(runtime::InstanceView& view) {
  std::shared_ptr<const config::ServiceConfig> cfg = view.config();
  absl::StatusOr<std::optional<std::string>> token = ResolveToken(cfg->admin);
  if (!token.ok()) return token.status();
  TokenPolicy tokens =
      token->has_value() ? TokenPolicy(**token, cfg->admin.require_token_for_all) : TokenPolicy();
  auto server = std::make_unique<AdminServerImpl>(view);
  if (absl::Status st = server->Init(cfg->admin, std::move(tokens)); !st.ok()) return st;
  return std::unique_ptr<AdminServer>(std::move(server));
}

}  // namespace sluice::admin
