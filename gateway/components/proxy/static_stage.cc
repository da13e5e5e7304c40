#include "gateway/components/proxy/static_stage.h"

namespace sluice::components::proxy {

void StaticStage::OnResponse(pipeline::RequestContext& ctx) const {
  if (ctx.response || !response_.AppliesTo(ctx.complete)) return;
  if (!ctx.data.is_object()) ctx.data = nlohmann::json::object();
  for (const auto& [key, value] : response_.data.items()) ctx.data[key] = value;
  ctx.has_data = true;
}

}  // namespace sluice::components::proxy
