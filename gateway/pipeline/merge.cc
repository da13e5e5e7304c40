#include "gateway/pipeline/merge.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/beast/http/field.hpp"
#include "gateway/common/logging.h"
#include "gateway/common/strings.h"
#include "gateway/encoding/json.h"
#include "gateway/encoding/renderers.h"
#include "gateway/http/wire.h"

namespace sluice::pipeline {

namespace bhttp = boost::beast::http;
using backend::BackendResponse;
using backend::ErrorKind;

void Merge::OnResponse(RequestContext& ctx) const {
  for (const BackendResponse& answer : ctx.answers) {
    if (answer.error.kind == ErrorKind::kRequest) {
      ctx.response = FailureResponse(Failure{answer.error, false, {}}, failure_options_);
      return;
    }
  }
  // The decode stages rendered the answers (encoding::RenderJsonObjectDirect) unless a body was
  // left to the tree or a failure carries error details: then every part goes through the tree.
  bool any_tree = false;
  size_t rendered = 0;
  BackendResponse* last_rendered = nullptr;
  for (BackendResponse& answer : ctx.answers) {
    any_tree |= answer.data.has_value();
    if (answer.rendered_json) {
      ++rendered;
      last_rendered = &answer;
    }
  }
  const bool direct = rendered > 0 && !any_tree;
  if (direct && rendered == 1) ctx.rendered_json = std::move(last_rendered->body);
  if (direct && rendered > 1) {
    std::vector<std::string_view> objects;
    objects.reserve(rendered);
    for (const BackendResponse& answer : ctx.answers) {
      if (answer.rendered_json) objects.push_back(answer.body);
    }
    ctx.rendered_json = encoding::MergeRenderedObjects(objects);
  }
  nlohmann::json merged = nlohmann::json::object();
  size_t ok = 0;
  bool any_data = direct;
  for (BackendResponse& answer : ctx.answers) {
    if (answer.ok()) {
      ++ok;
      // What the decode stage kept: the backend's return_headers.
      for (const auto& field : answer.headers) {
        ctx.headers.emplace_back(std::string(Sv(field.name_string())),
                                 std::string(Sv(field.value())));
      }
    }
    if (direct) continue;
    if (answer.rendered_json) {
      auto parsed = encoding::ParseJson(answer.body);  // rendered by us: valid
      if (parsed.ok()) answer.data = std::move(*parsed);
    }
    if (!answer.data) continue;
    any_data = true;
    if (answer.data->is_object()) {
      for (auto& [key, value] : answer.data->items()) merged[key] = std::move(value);
    }
  }
  ctx.complete = ok == ctx.answers.size();
  ctx.has_data = any_data;
  ctx.data = std::move(merged);
  if (!any_data) ctx.failure = FailureOf(ctx.answers);
}

Failure Merge::FailureOf(std::vector<BackendResponse>& answers) const {
  for (auto it = answers.rbegin(); it != answers.rend(); ++it) {
    if (it->error.grpc_code > 0) return Failure{it->error, false, {}};
  }
  BackendResponse* cause = &answers.back();
  bool pass = false;  // only with return_error_code: the backend's body may expose internals
  for (size_t i = 0; i < answers.size(); ++i) {
    const backend::Error& e = answers[i].error;
    if (e.kind == ErrorKind::kStatus && i < return_error_code_.size() && return_error_code_[i] &&
        e.status >= 100 && e.status <= 999) {
      cause = &answers[i];
      pass = true;
    }
  }
  return Failure{cause->error, pass, pass ? std::move(cause->body) : std::string()};
}

Render::Render(const config::Endpoint& endpoint) : endpoint_(endpoint) {
  if (endpoint_.cache_ttl > absl::ZeroDuration()) {
    cache_control_ = absl::StrCat("public, max-age=", absl::ToInt64Seconds(endpoint_.cache_ttl));
  }
}

void Render::OnResponse(RequestContext& ctx) const {
  if (ctx.response || !ctx.has_data) return;
  const http::Request& req = ctx.request();
  auto accept = req.find(bhttp::field::accept);
  const bool direct = !ctx.rendered_json.empty();
  // The decode stages' JSON as it is (no content-type string built per request), or the tree's.
  absl::StatusOr<encoding::Rendered> rendered;
  if (direct) {
    rendered = encoding::Rendered{{}, std::move(ctx.rendered_json)};
  } else {
    rendered = encoding::Render(endpoint_.output_encoding, ctx.data,
                                accept == req.end() ? std::string_view() : Sv(accept->value()));
  }
  if (!rendered.ok()) {
    log::Warn("[{}] [ENDPOINT: {}] render: {}", ctx.request_id, endpoint_.path,
              std::string(rendered.status().message()));
    http::Response failed(bhttp::status::internal_server_error, 11);
    failed.set(Bv(http::kCompletedHeader), "false");
    ctx.response = std::move(failed);
    return;
  }
  http::Response res(bhttp::status::ok, 11);
  for (const auto& [name, value] : ctx.headers) res.insert(Bv(name), Bv(value));
  res.set(bhttp::field::content_type,
          direct ? Bv(encoding::kJsonContentType) : Bv(rendered->content_type));
  if (endpoint_.output_encoding == config::OutputEncoding::kNegotiate) {
    res.set(bhttp::field::vary, "Accept");  // caches must key the answer by Accept
  }
  // Lura's handler calls an answer complete only when it has data: `{}` (every backend's
  // answer empty, or a no-op backend's) is marked incomplete and not cacheable.
  const bool empty = direct ? rendered->body == "{}" : ctx.data.is_object() && ctx.data.empty();
  const bool complete = ctx.complete && !empty;
  res.set(Bv(http::kCompletedHeader), complete ? "true" : "false");
  if (complete && !cache_control_.empty()) res.set(bhttp::field::cache_control, cache_control_);
  res.body() = std::move(rendered->body);
  ctx.response = std::move(res);
}

}  // namespace sluice::pipeline
