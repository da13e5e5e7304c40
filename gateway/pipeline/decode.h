#pragma once

// What one backend answer contributes to a merging endpoint: status policy -> decoder ->
// shaper, as Lura's HTTP proxy applies them before anything above it sees the answer (so a
// circuit breaker counts a failed status or an undecodable body as a failure).

#include <memory>
#include <optional>
#include <string>

#include "gateway/backend/backend.h"
#include "gateway/config/config.h"
#include "gateway/pipeline/policy.h"
#include "gateway/shaping/shaping.h"

namespace sluice::pipeline {

// Applies the status policy, the decoder and the shaper to `answer` in place. Afterwards:
// success -> `data` holds the shaped object, `body` is released and `headers` keeps only the
// return_headers; failure -> `error` says why
// (a failed status keeps its body for return_error_msg, and with return_error_details `data`
// holds the "error_<alias>" object). `shaper` may be null (identity). Pure: no I/O, no clock.
// `render_direct` (a json backend that nothing shapes but a `group`, of a JSON endpoint where
// nothing between reads `data`): a successful answer's body is rendered in one pass
// (encoding::RenderJsonObjectDirect, then wrapped under the group), `body` holds that and
// `rendered_json` is set; a body the direct pass declines is decoded as above. An answer that
// comes rendered (a gRPC reply: the Decode stage asks for it with the request's `render_json`)
// is only wrapped under the group.
void DecodeAnswer(const config::Backend& backend, const BackendPolicy& policy,
                  const shaping::BackendShaper* shaper, backend::BackendResponse* answer,
                  bool render_direct = false);

// The backend-level stage that runs DecodeAnswer on each answer of the backend below it, and
// logs failures ([ENDPOINT: ...][BACKEND: ...] with the request id).
class Decode final : public backend::Backend {
 public:
  Decode(backend::BackendPtr next, const config::Endpoint& endpoint, const config::Backend& backend,
         BackendPolicy policy, std::optional<shaping::BackendShaper> shaper,
         bool render_direct = false);

  void Call(backend::BackendRequest&& request, const backend::CallContext& ctx,
            backend::Deadline deadline, backend::Done done) const override;

 private:
  backend::BackendPtr next_;
  const config::Backend& config_;
  BackendPolicy policy_;
  std::optional<shaping::BackendShaper> shaper_;
  bool render_direct_;
  std::string log_prefix_;
};

// "[ENDPOINT: /users/{id}][BACKEND: /u/{id}]", as KrakenD prefixes its backend log lines.
std::string LogPrefix(const config::Endpoint& endpoint, const config::Backend& backend);

}  // namespace sluice::pipeline
