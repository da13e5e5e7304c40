#include "gateway/backend/grpc/channels.h"

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace sluice::backend::grpc {

// A restarted backend is retried within a second, not after gRPC's default backoff (up to 120 s,
// during which every call fails at once).
constexpr int kInitialReconnectBackoffMs = 250;
constexpr int kMaxReconnectBackoffMs = 1000;

std::string Target(const config::HostAddress& h) {
  return h.host.find(':') != std::string::npos ? absl::StrCat("[", h.host, "]:", h.port)
                                               : absl::StrCat(h.host, ":", h.port);
}

absl::StatusOr<std::unique_ptr<Channels>> Channels::Create(
    const components::grpc::Config* catalog, const std::string& config_dir,
    const std::vector<boost::asio::io_context*>& workers) {
  std::unique_ptr<Channels> channels(new Channels());
  channels->workers_ = workers;
  for (boost::asio::io_context* ioc : workers) {
    channels->clients_.push_back(std::make_shared<H2Client>(*ioc, channels->catalog_));
  }
  if (catalog == nullptr || catalog->catalog.empty()) return channels;
  for (size_t i = 0; i < catalog->catalog.size(); ++i) {
    std::string path = catalog->catalog[i];
    if (path.front() != '/') path = absl::StrCat(config_dir, "/", path);
    if (absl::Status s = channels->catalog_->AddPath(path); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("extra_config.grpc.catalog[", i, "]: ", s.message()));
    }
  }
  if (absl::Status s = channels->catalog_->Build(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("extra_config.grpc.catalog: ", s.message()));
  }
  return channels;
}

Channels::~Channels() {
  for (size_t i = 0; i < clients_.size(); ++i) {
    boost::asio::post(*workers_[i], [client = std::move(clients_[i])] { client->Close(); });
  }
  absl::MutexLock lock(&mu_);
  closing_ = true;
  for (::grpc::ClientContext* call : live_) call->TryCancel();
  // Cancelled calls complete at once (CANCELLED), each posting its result and calling End.
  mu_.Await(absl::Condition(
      +[](std::set<::grpc::ClientContext*>* live) { return live->empty(); }, &live_));
}

int Channels::RegisterHost(const config::HostAddress& host) {
  int slot = 0;
  for (const auto& client : clients_) slot = client->RegisterHost(host);
  return slot;
}

bool Channels::Begin(::grpc::ClientContext* call) {
  absl::MutexLock lock(&mu_);
  if (closing_) return false;
  live_.insert(call);
  return true;
}

void Channels::End(::grpc::ClientContext* call) {
  absl::MutexLock lock(&mu_);
  live_.erase(call);
}

std::shared_ptr<::grpc::ChannelCredentials> Credentials(
    const components::backend_grpc::Config::Tls* tls) {
  if (tls == nullptr) return ::grpc::InsecureChannelCredentials();
  ::grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls->roots;
  options.pem_private_key = tls->private_key;
  options.pem_cert_chain = tls->certificate_chain;
  return ::grpc::SslCredentials(options);
}

std::shared_ptr<::grpc::Channel> Channels::Channel(
    const config::HostAddress& host, const components::backend_grpc::Config::Tls* tls) {
  const std::string target = Target(host);
  // Backends with the same host but other TLS settings get their own channel.
  const std::string key =
      tls == nullptr ? target : absl::StrCat(target, "|tls|", tls->roots, tls->certificate_chain);
  for (const auto& [k, channel] : channels_) {
    if (k == key) return channel;
  }
  ::grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kInitialReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kInitialReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  auto channel = ::grpc::CreateCustomChannel(target, Credentials(tls), args);
  channels_.emplace_back(key, channel);
  return channel;
}

}  // namespace sluice::backend::grpc
