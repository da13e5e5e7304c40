#include "admin/admin_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gateway/backend/error.h"
#include "gateway/common/logging.h"
#include "gateway/version/version.h"

namespace sluice::admin {
namespace {

namespace pb = ::admin;

// Fragments of key names whose values are credentials (compared lower-case). Redacting a value
// that was not secret costs an operator one look at the file; missing one leaks a credential to
// anyone allowed to read the config.
constexpr std::string_view kSecretKeyFragments[] = {
    "password", "passwd",     "secret",     "private_key", "privatekey", "api_key",
    "apikey",   "api-key",    "passphrase", "token",       "credential", "authorization",
    "cookie",   "cypher_key", "signature",  "bearer"};

bool IsSecretKey(std::string_view key) {
  std::string lower = absl::AsciiStrToLower(absl::string_view(key.data(), key.size()));
  // Where a secret is kept ("token_env", "token_file", "private_key_path"), not the secret: an
  // operator needs to see it.
  for (std::string_view suffix : {"_env", "_file", "_path"}) {
    if (absl::EndsWith(lower, absl::string_view(suffix.data(), suffix.size()))) return false;
  }
  return std::any_of(std::begin(kSecretKeyFragments), std::end(kSecretKeyFragments),
                     [&](std::string_view f) { return lower.find(f) != std::string::npos; });
}

// Whether the objects under `key` map header names to header values ("headers",
// "headers_to_set", "static_headers"...): such values are redacted whatever the header's name,
// since a header can carry a credential under any name.
bool IsHeaderMapKey(std::string_view key) {
  std::string lower = absl::AsciiStrToLower(absl::string_view(key.data(), key.size()));
  return lower.find("header") != std::string::npos;
}

constexpr std::string_view kRedacted = "[redacted]";

// Replaces every scalar in `j` (recursively) by kRedacted.
void RedactAll(nlohmann::json* j) {
  if (j->is_object() || j->is_array()) {
    for (nlohmann::json& item : *j) RedactAll(&item);
  } else if (!j->is_null()) {
    *j = kRedacted;
  }
}

// A header modifier ({"name": "Authorization", "value": "Bearer ..."}, as in martian's
// header.Modifier): its value is a header value.
bool IsHeaderModifier(const nlohmann::json& j) {
  auto name = j.find("name");
  return name != j.end() && name->is_string() && j.contains("value");
}

void Redact(nlohmann::json* j) {
  if (j->is_object()) {
    if (IsHeaderModifier(*j)) RedactAll(&(*j)["value"]);
    for (auto it = j->begin(); it != j->end(); ++it) {
      if (IsSecretKey(it.key()) && !it->is_object()) {
        // An object under such a name is a component ("auth/client-credentials"): its own keys
        // decide.
        RedactAll(&*it);
      } else if (IsHeaderMapKey(it.key()) && it->is_object() && !IsHeaderModifier(*it)) {
        for (nlohmann::json& header_value : *it) RedactAll(&header_value);
      } else {
        Redact(&*it);
      }
    }
  } else if (j->is_array()) {
    for (nlohmann::json& item : *j) Redact(&item);
  }
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const absl::Duration since_epoch = t - absl::UnixEpoch();
  absl::Duration rem;
  const int64_t seconds = absl::IDivDuration(since_epoch, absl::Seconds(1), &rem);
  // Timestamps keep nanos in [0, 1e9): borrow a second for times before 1970.
  int64_t nanos = absl::ToInt64Nanoseconds(rem);
  out->set_seconds(nanos < 0 ? seconds - 1 : seconds);
  out->set_nanos(static_cast<int32_t>(nanos < 0 ? nanos + 1000000000 : nanos));
}

void SetUnixMillis(int64_t ms, google::protobuf::Timestamp* out) {
  SetTimestamp(absl::FromUnixMillis(ms), out);
}

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  absl::Duration rem;
  out->set_seconds(absl::IDivDuration(d, absl::Seconds(1), &rem));
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(rem)));
}

void SetHistogram(const metrics::HistogramSnapshot& h, pb::Histogram* out) {
  for (double bound : metrics::kLatencyBuckets) out->add_upper_bounds_seconds(bound);
  for (uint64_t n : h.buckets) out->add_bucket_counts(n);
  out->set_count(h.count);
  out->set_sum_seconds(h.sum_seconds);
  out->set_p50_seconds(h.Quantile(0.5));
  out->set_p90_seconds(h.Quantile(0.9));
  out->set_p99_seconds(h.Quantile(0.99));
}

pb::ServingState ToProto(runtime::ServingState s) {
  return s == runtime::ServingState::kDraining ? pb::DRAINING : pb::SERVING;
}

void SetReload(const runtime::ReloadRecord& r, pb::ReloadEvent* out) {
  SetTimestamp(r.at, out->mutable_at());
  out->set_trigger(r.trigger);
  out->set_result(r.result);
  out->set_config_sha256(r.sha256);
  out->set_error(r.error);
  SetDuration(r.took, out->mutable_took());
}

// Failure counters are indexed by backend::ErrorKind (gateway/backend/error.h).
void SetFailures(const std::array<uint64_t, metrics::kFailureKinds>& f, pb::FailureCounts* out) {
  static_assert(metrics::kFailureKinds == 9, "FailureCounts must list every ErrorKind");
  auto at = [&f](backend::ErrorKind k) { return f[static_cast<size_t>(k)]; };
  out->set_connect(at(backend::ErrorKind::kConnect));
  out->set_timeout(at(backend::ErrorKind::kTimeout));
  out->set_reset(at(backend::ErrorKind::kReset));
  out->set_status(at(backend::ErrorKind::kStatus));
  out->set_decode(at(backend::ErrorKind::kDecode));
  out->set_bad_response(at(backend::ErrorKind::kBadResponse));
  out->set_request(at(backend::ErrorKind::kRequest));
  out->set_rejected(at(backend::ErrorKind::kRejected));
}

}  // namespace

std::string RedactedConfigJson(const nlohmann::json& effective) {
  nlohmann::json copy = effective;
  Redact(&copy);
  // replace: never throw on a string that is not valid UTF-8.
  return copy.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

AdminService::AdminService(runtime::InstanceView& view, TokenPolicy tokens,
                           std::function<void()> on_state_change)
    : view_(view), tokens_(std::move(tokens)), on_state_change_(std::move(on_state_change)) {}

void AdminService::SetAddresses(std::string admin_address, std::string metrics_address) {
  absl::MutexLock lock(&mu_);
  admin_address_ = std::move(admin_address);
  metrics_address_ = std::move(metrics_address);
}

::grpc::Status AdminService::Authorize(::grpc::ServerContext* context, CallClass call,
                                       std::string_view method) const {
  if (!tokens_.Required(call)) return ::grpc::Status::OK;
  std::optional<std::string_view> authorization;
  const auto& md = context->client_metadata();
  if (auto it = md.find("authorization"); it != md.end()) {
    authorization = std::string_view(it->second.data(), it->second.size());
  }
  absl::Status st = tokens_.Check(call, authorization);
  if (st.ok()) return ::grpc::Status::OK;
  // The message names neither token; the peer is logged for the audit trail.
  log::Warn("admin: {} from {} refused: {}", method, context->peer(), std::string(st.message()));
  return ::grpc::Status(::grpc::StatusCode::UNAUTHENTICATED, std::string(st.message()));
}

::grpc::Status AdminService::Status(::grpc::ServerContext* context, const pb::StatusRequest*,
                                    pb::StatusResponse* response) {
  if (auto st = Authorize(context, CallClass::kObserve, "Status"); !st.ok()) return st;
  std::shared_ptr<const config::ServiceConfig> cfg = view_.config();
  runtime::RuntimeInfo info = view_.info();
  response->set_name(cfg->name);
  response->set_config_version(cfg->version);
  response->set_config_sha256(cfg->sha256_hex);
  response->set_config_path(cfg->file_path);
  SetTimestamp(cfg->loaded_at, response->mutable_config_loaded_at());
  response->set_sluice_version(std::string(version::Version()));
  response->set_git_revision(std::string(version::GitRevision()));
  SetTimestamp(info.started_at, response->mutable_started_at());
  SetDuration(absl::Now() - info.started_at, response->mutable_uptime());
  response->set_pid(info.pid);
  response->set_hostname(info.hostname);
  response->set_public_address(info.public_address);
  {
    absl::MutexLock lock(&mu_);
    response->set_admin_address(admin_address_);
    response->set_metrics_address(metrics_address_);
  }
  response->set_workers(info.workers);
  response->set_endpoints(static_cast<int32_t>(cfg->endpoints.size()));
  response->set_state(ToProto(view_.serving_state()));
  for (const std::string& path : cfg->unprotected) response->add_unprotected(path);
  const metrics::Snapshot snapshot = view_.metrics();
  response->set_cluster_ratelimit(snapshot.redis_up == -2  ? ""
                                  : snapshot.redis_up == 1 ? "up"
                                  : snapshot.redis_up == 0 ? "down"
                                                           : "unknown");
  const runtime::ReloadHistory reloads = view_.reloads();
  response->set_reloads_ok(reloads.ok);
  response->set_reloads_unchanged(reloads.unchanged);
  response->set_reloads_failed(reloads.failed);
  for (const runtime::ReloadRecord& r : reloads.recent)
    SetReload(r, response->add_recent_reloads());
  return ::grpc::Status::OK;
}

::grpc::Status AdminService::GetMetrics(::grpc::ServerContext* context,
                                        const pb::GetMetricsRequest*,
                                        pb::GetMetricsResponse* response) {
  if (auto st = Authorize(context, CallClass::kObserve, "GetMetrics"); !st.ok()) return st;
  metrics::Snapshot snapshot = view_.metrics();
  for (const metrics::EndpointSnapshot& e : snapshot.endpoints) {
    pb::EndpointMetrics* out = response->add_endpoints();
    out->set_method(e.method);
    out->set_path(e.path);
    pb::StatusClassCounts* requests = out->mutable_requests();
    const auto& c = e.requests_by_class;
    requests->set_status_1xx(c[0]);
    requests->set_status_2xx(c[1]);
    requests->set_status_3xx(c[2]);
    requests->set_status_4xx(c[3]);
    requests->set_status_5xx(c[4]);
    uint64_t total = 0;
    for (uint64_t n : c) total += n;
    out->set_requests_total(total);
    out->set_in_flight(e.in_flight);
    SetHistogram(e.latency, out->mutable_latency());
    out->set_bytes_out(e.bytes_out);
  }
  for (const metrics::BackendSnapshot& b : snapshot.backends) {
    pb::BackendMetrics* out = response->add_backends();
    out->set_endpoint_method(b.endpoint_method);
    out->set_endpoint_path(b.endpoint_path);
    out->set_url_pattern(b.url_pattern);
    for (const std::string& h : b.hosts) out->add_hosts(h);
    out->set_calls(b.calls);
    SetFailures(b.failures, out->mutable_failures());
    uint64_t failures = 0;
    for (size_t k = 1; k < b.failures.size(); ++k) failures += b.failures[k];
    out->set_failures_total(failures);
    SetHistogram(b.latency, out->mutable_latency());
    out->set_http_cache(b.has_cache);
    out->set_cache_hits(b.cache_hits);
    out->set_cache_revalidated(b.cache_revalidated);
    out->set_cache_misses(b.cache_misses);
    switch (b.breaker_state) {
      case metrics::kBreakerClosed:
        out->set_circuit_breaker(pb::CIRCUIT_CLOSED);
        break;
      case metrics::kBreakerHalfOpen:
        out->set_circuit_breaker(pb::CIRCUIT_HALF_OPEN);
        break;
      case metrics::kBreakerOpen:
        out->set_circuit_breaker(pb::CIRCUIT_OPEN);
        break;
      default:
        out->set_circuit_breaker(pb::NO_CIRCUIT_BREAKER);
        break;
    }
  }
  runtime::ProcessStats process = view_.process();
  response->mutable_process()->set_open_connections(process.open_connections);
  for (int64_t n : process.worker_connections) {
    response->mutable_process()->add_worker_connections(n);
  }
  response->mutable_process()->set_total_connections(process.total_connections);
  response->mutable_process()->set_resident_memory_bytes(process.rss_bytes);
  return ::grpc::Status::OK;
}

::grpc::Status AdminService::Health(::grpc::ServerContext* context, const pb::HealthRequest*,
                                    pb::HealthResponse* response) {
  if (auto st = Authorize(context, CallClass::kObserve, "Health"); !st.ok()) return st;
  response->set_state(ToProto(view_.serving_state()));
  metrics::Snapshot snapshot = view_.metrics();
  for (const metrics::BackendSnapshot& b : snapshot.backends) {
    pb::BackendHealth* out = response->add_backends();
    out->set_endpoint_method(b.endpoint_method);
    out->set_endpoint_path(b.endpoint_path);
    out->set_url_pattern(b.url_pattern);
    for (const std::string& h : b.hosts) out->add_hosts(h);
    if (b.last_success_unix_ms == 0 && b.last_failure_unix_ms == 0) {
      out->set_state(pb::BACKEND_STATE_UNSPECIFIED);
    } else {
      out->set_state(b.last_failure_unix_ms > b.last_success_unix_ms ? pb::BACKEND_FAILING
                                                                     : pb::BACKEND_OK);
    }
    if (b.last_success_unix_ms != 0) {
      SetUnixMillis(b.last_success_unix_ms, out->mutable_last_success());
    }
    if (b.last_failure_unix_ms != 0) {
      SetUnixMillis(b.last_failure_unix_ms, out->mutable_last_failure());
    }
    out->set_last_error(b.last_error);
  }
  return ::grpc::Status::OK;
}

::grpc::Status AdminService::GetConfig(::grpc::ServerContext* context, const pb::GetConfigRequest*,
                                       pb::GetConfigResponse* response) {
  if (auto st = Authorize(context, CallClass::kPrivileged, "GetConfig"); !st.ok()) return st;
  std::shared_ptr<const config::ServiceConfig> cfg = view_.config();
  response->set_json(RedactedConfigJson(cfg->effective()));
  response->set_config_path(cfg->file_path);
  response->set_config_sha256(cfg->sha256_hex);
  return ::grpc::Status::OK;
}

::grpc::Status AdminService::Drain(::grpc::ServerContext* context, const pb::DrainRequest*,
                                   pb::DrainResponse* response) {
  if (auto st = Authorize(context, CallClass::kPrivileged, "Drain"); !st.ok()) return st;
  const bool changed = view_.serving_state() != runtime::ServingState::kDraining;
  log::Info("admin: Drain from {}", context->peer());
  view_.Drain();
  on_state_change_();
  response->set_state(ToProto(view_.serving_state()));
  response->set_changed(changed);
  return ::grpc::Status::OK;
}

::grpc::Status AdminService::Resume(::grpc::ServerContext* context, const pb::ResumeRequest*,
                                    pb::ResumeResponse* response) {
  if (auto st = Authorize(context, CallClass::kPrivileged, "Resume"); !st.ok()) return st;
  const bool changed = view_.serving_state() != runtime::ServingState::kServing;
  log::Info("admin: Resume from {}", context->peer());
  view_.Resume();
  on_state_change_();
  response->set_state(ToProto(view_.serving_state()));
  response->set_changed(changed);
  return ::grpc::Status::OK;
}

::grpc::Status AdminService::Reload(::grpc::ServerContext* context, const pb::ReloadRequest*,
                                    pb::ReloadResponse* response) {
  if (auto st = Authorize(context, CallClass::kPrivileged, "Reload"); !st.ok()) return st;
  log::Info("admin: Reload from {}", context->peer());
  SetReload(view_.Reload("admin"), response->mutable_reload());
  response->set_live_config_sha256(view_.config()->sha256_hex);
  return ::grpc::Status::OK;
}

}  // namespace sluice::admin
