#include "gateway/pipeline/merge.h"

#include "absl/strings/str_cat.h"
#include "boost/beast/http/field.hpp"
#include "gateway/common/logging.h"
#include "gateway/common/strings.h"
#include "gateway/encoding/decoders.h"
#include "gateway/encoding/renderers.h"

namespace sluice::pipeline {

namespace bhttp = boost::beast::http;

namespace {

constexpr std::string_view kCompletedHeader = "X-Krakend-Completed";

}  // namespace

Part DecodeAnswer(const config::Backend& cfg, const BackendPolicy& policy,
                  const shaping::BackendShaper* shaper, backend::rest::CallResult&& result) {
  Part part;
  if (!result.ok()) {
    part.error = std::move(result.error);
    return part;
  }
  const unsigned status = result.response.result_int();
  if (!policy.IsSuccess(status)) {
    part.error = {backend::ErrorKind::kStatus, absl::StrCat("invalid status code ", status),
                  status};
    part.error_body = std::move(result.response.body());
    if (!policy.error_details_alias.empty()) {
      auto ct = result.response.find(bhttp::field::content_type);
      part.data = nlohmann::json::object();
      (*part.data)["error_" + policy.error_details_alias] = {
          {"http_status_code", status},
          {"http_body", part.error_body},
          {"http_body_encoding", ct == result.response.end() ? "" : std::string(Sv(ct->value()))},
      };
    }
    return part;
  }
  // A gRPC answer comes decoded.
  auto decoded = result.data
                     ? absl::StatusOr<nlohmann::json>(std::move(*result.data))
                     : encoding::Decode(cfg.encoding, result.response.body(), cfg.is_collection);
  // Under success_status "2xx" a success without a body (204, 202) is an empty answer, not a
  // decoding failure (KrakenD fails on it: EOF). Only where the decoder fails on it: `string`
  // reads an empty body as {"content": ""} whatever the policy.
  if (!decoded.ok() && result.response.body().empty() && policy.success_any_2xx) {
    decoded = cfg.is_collection ? nlohmann::json{{"collection", nlohmann::json::array()}}
                                : nlohmann::json::object();
  }
  if (!decoded.ok()) {
    part.error = {backend::ErrorKind::kDecode, std::string(decoded.status().message()), 0};
    return part;
  }
  part.ok = true;
  part.data = std::move(*decoded);
  if (shaper != nullptr) shaper->Apply(*part.data);
  for (const std::string& name : policy.return_headers) {
    for (const auto& field : result.response) {
      if (EqualsIgnoreCase(Sv(field.name_string()), name)) {
        part.headers.emplace_back(std::string(Sv(field.name_string())),
                                  std::string(Sv(field.value())));
      }
    }
  }
  return part;
}

Merger::Merger(const config::Endpoint& endpoint, EndpointPolicy policy,
               std::vector<bool> return_error_code)
    : endpoint_(endpoint), policy_(std::move(policy)),
      return_error_code_(std::move(return_error_code)) {
  if (endpoint_.cache_ttl > absl::ZeroDuration()) {
    cache_control_ = absl::StrCat("public, max-age=", absl::ToInt64Seconds(endpoint_.cache_ttl));
  }
}

http::Response Merger::Merge(std::vector<Part>& parts, std::string_view accept) const {
  // A request no backend can take is the client's fault, whatever the other backends said.
  for (const Part& part : parts) {
    if (part.error.kind == backend::ErrorKind::kRequest) return GrpcError(part.error);
  }
  nlohmann::json merged = nlohmann::json::object();
  size_t ok = 0;
  bool any_data = false;
  for (Part& part : parts) {
    if (part.ok) ++ok;
    if (!part.data) continue;
    any_data = true;
    // Declaration order: a later backend's key overwrites an earlier one's, deterministically.
    if (part.data->is_object()) {
      for (auto& [key, value] : part.data->items()) merged[key] = std::move(value);
    }
  }
  const bool complete = ok == parts.size();
  if (policy_.static_response && policy_.static_response->AppliesTo(complete)) {
    for (const auto& [key, value] : policy_.static_response->data.items()) merged[key] = value;
    any_data = true;
  }
  if (!any_data) return Failure(parts);

  auto rendered = encoding::Render(endpoint_.output_encoding, merged, accept);
  if (!rendered.ok()) {
    log::Warn("[ENDPOINT: {}] render: {}", endpoint_.path,
              std::string(rendered.status().message()));
    http::Response failed(bhttp::status::internal_server_error, 11);
    failed.set(Bv(kCompletedHeader), "false");
    return failed;
  }
  http::Response res(bhttp::status::ok, 11);
  for (const Part& part : parts) {
    for (const auto& [name, value] : part.headers) res.insert(Bv(name), Bv(value));
  }
  res.set(bhttp::field::content_type, rendered->content_type);
  if (endpoint_.output_encoding == config::OutputEncoding::kNegotiate) {
    res.set(bhttp::field::vary, "Accept");  // caches must key the answer by Accept
  }
  res.set(Bv(kCompletedHeader), complete ? "true" : "false");
  if (complete && !cache_control_.empty()) res.set(bhttp::field::cache_control, cache_control_);
  res.body() = std::move(rendered->body);
  return res;
}

// A gRPC failure as the client sees it: the status its code maps to and a JSON body
// {"code", "message"} (as grpc-gateway and Envoy's transcoder answer).
http::Response Merger::GrpcError(const backend::Error& error) const {
  http::Response res;
  res.version(11);
  res.result(error.status);
  res.set(Bv(kCompletedHeader), "false");
  res.set(bhttp::field::content_type, "application/json");
  res.body() = nlohmann::json{{"code", error.grpc_code}, {"message", error.message}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  return res;
}

// No backend produced data. KrakenD: 500 with an empty body; with return_error_code the failed
// backend's status, with return_error_msg the error (the backend's body for a status error).
// A failed gRPC backend answers with its mapped status and {"code", "message"}.
http::Response Merger::Failure(const std::vector<Part>& parts) const {
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (it->error.grpc_code > 0) return GrpcError(it->error);
  }
  const Part* cause = &parts.back();
  unsigned status = 500;
  bool pass_backend_body = false;  // only with return_error_code: it may expose internals
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].error.kind == backend::ErrorKind::kStatus && i < return_error_code_.size() &&
        return_error_code_[i] && parts[i].error.status >= 100 && parts[i].error.status <= 999) {
      status = parts[i].error.status;
      cause = &parts[i];
      pass_backend_body = true;
    }
  }
  http::Response failed;
  failed.version(11);
  failed.result(status);
  failed.set(Bv(kCompletedHeader), "false");
  if (policy_.return_error_msg) {
    failed.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    failed.body() = pass_backend_body ? cause->error_body : cause->error.message;
  }
  return failed;
}

}  // namespace sluice::pipeline
