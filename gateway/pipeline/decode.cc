#include "gateway/pipeline/decode.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/beast/http/field.hpp"
#include "gateway/common/logging.h"
#include "gateway/common/strings.h"
#include "gateway/encoding/decoders.h"
#include "gateway/encoding/json.h"

namespace sluice::pipeline {

namespace bhttp = boost::beast::http;
using backend::BackendResponse;
using backend::Error;
using backend::ErrorKind;

std::string LogPrefix(const config::Endpoint& e, const config::Backend& b) {
  return absl::StrCat("[ENDPOINT: ", e.path, "][BACKEND: ", b.url_pattern, "]");
}

namespace {

// Only the headers passed to the client stay (sluice/backend return_headers), in the policy's
// order, then the backend's.
void KeepReturnHeaders(const BackendPolicy& policy, BackendResponse* answer) {
  backend::Fields kept;
  for (const std::string& name : policy.return_headers) {
    for (const auto& field : answer->headers) {
      if (EqualsIgnoreCase(Sv(field.name_string()), name)) {
        kept.insert(field.name_string(), field.value());
      }
    }
  }
  answer->headers = std::move(kept);
}

}  // namespace

void DecodeAnswer(const config::Backend& cfg, const BackendPolicy& policy,
                  const shaping::BackendShaper* shaper, BackendResponse* answer,
                  bool render_direct) {
  if (!answer->ok()) return;
  if (cfg.encoding == config::BackendEncoding::kNoOp) {
    // Lura's no-op parser in a merging endpoint: any status, nothing decoded or shaped, an empty
    // object merged.
    answer->data = nlohmann::json::object();
    std::string().swap(answer->body);
    answer->headers = {};
    return;
  }
  const unsigned status = answer->status;
  if (!policy.IsSuccess(status)) {
    std::string message = absl::StrCat("invalid status code ", status);
    if (!policy.status_error_prefix.empty()) {
      absl::StrAppend(&message, " ", policy.status_error_prefix, " ", answer->url);
    }
    Error error = Error::Of(ErrorKind::kStatus, std::move(message));
    error.status = status;
    answer->error = std::move(error);
    if (!policy.error_details_alias.empty()) {
      auto ct = answer->headers.find(bhttp::field::content_type);
      answer->data = nlohmann::json::object();
      (*answer->data)["error_" + policy.error_details_alias] = {
          {"http_status_code", status},
          {"http_body", answer->body},
          {"http_body_encoding", ct == answer->headers.end() ? "" : std::string(Sv(ct->value()))},
      };
    }
    return;
  }
  const std::string* group = shaper != nullptr ? shaper->group_only() : nullptr;
  if (answer->rendered_json) {  // a gRPC reply the request asked rendered (render_json)
    if (group != nullptr) answer->body = encoding::WrapRenderedObject(*group, answer->body);
    KeepReturnHeaders(policy, answer);
    return;
  }
  if (render_direct && !answer->data && (shaper == nullptr || group != nullptr)) {
    std::string rendered;
    if (encoding::RenderJsonObjectDirect(answer->body, &rendered)) {
      answer->body =
          group != nullptr ? encoding::WrapRenderedObject(*group, rendered) : std::move(rendered);
      answer->rendered_json = true;
      KeepReturnHeaders(policy, answer);
      return;
    }
  }
  // A gRPC answer comes decoded.
  auto decoded = answer->data ? absl::StatusOr<nlohmann::json>(std::move(*answer->data))
                              : encoding::Decode(cfg.encoding, answer->body, cfg.is_collection);
  // Under success_status "2xx" a success without a body (204, 202) is an empty answer, not a
  // decoding failure (KrakenD fails on it: EOF). Only where the decoder fails on it: `string`
  // reads an empty body as {"content": ""} whatever the policy.
  if (!decoded.ok() && answer->body.empty() && policy.success_any_2xx) {
    decoded = cfg.is_collection ? nlohmann::json{{"collection", nlohmann::json::array()}}
                                : nlohmann::json::object();
  }
  if (!decoded.ok()) {
    answer->data.reset();
    answer->error = Error::Of(ErrorKind::kDecode, std::string(decoded.status().message()));
    return;
  }
  answer->data = std::move(*decoded);
  std::string().swap(answer->body);
  if (shaper != nullptr) shaper->Apply(*answer->data);
  KeepReturnHeaders(policy, answer);
}

Decode::Decode(backend::BackendPtr next, const config::Endpoint& endpoint,
               const config::Backend& backend, BackendPolicy policy,
               std::optional<shaping::BackendShaper> shaper, bool render_direct)
    : next_(std::move(next)),
      config_(backend),
      policy_(std::move(policy)),
      shaper_(std::move(shaper)),
      render_direct_(render_direct),
      log_prefix_(LogPrefix(endpoint, backend)) {}

void Decode::Call(backend::BackendRequest&& request, const backend::CallContext& ctx,
                  backend::Deadline deadline, backend::Done done) const {
  request.render_json = render_direct_;
  next_->Call(
      std::move(request), ctx, deadline,
      [this, id = ctx.request_id, done = std::move(done)](BackendResponse&& a) mutable {
        DecodeAnswer(config_, policy_, shaper_ ? &*shaper_ : nullptr, &a, render_direct_);
        if (a.error.kind == ErrorKind::kRequest) {
          // The client's mistake, answered 400: at debug level, so clients cannot
          // flood the log.
          log::Debug("[{}] {} {}: {}", id, log_prefix_, ToString(a.error.kind), a.error.message);
        } else if (!a.ok()) {
          log::Warn("[{}] {} {}: {}", id, log_prefix_, ToString(a.error.kind), a.error.message);
        }
        done(std::move(a));
      });
}

}  // namespace sluice::pipeline
