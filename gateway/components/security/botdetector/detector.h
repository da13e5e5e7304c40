#pragma once

// KrakenD's `security/bot-detector` (service and endpoint level; v1
// `github_com/devopsfaith/krakend-botdetector`). A User-Agent is a bot when empty (with
// empty_user_agent_is_bot), else: listed in `allow` -> not a bot; listed in `deny` -> bot;
// matching any of `patterns` (unanchored RE2, all tried in one pass) -> bot. Bots get 403 with
// an empty body. Service level runs in the dispatcher before routing; endpoint level is a guard
// stage. A bad pattern refuses the config (KrakenD logs it and lets every bot through).

#include <memory>
#include <string>
#include <unordered_set>

#include "gateway/config/reader.h"
#include "gateway/http/exchange.h"
#include "gateway/pipeline/stage.h"
#include "re2/set.h"

namespace sluice::components::botdetector {

inline constexpr std::string_view kNamespace = "security/bot-detector";

struct Config : config::ComponentConfig {
  std::unordered_set<std::string> allow, deny;
  std::unique_ptr<re2::RE2::Set> patterns;  // null when none
  bool empty_user_agent_is_bot = false;
  bool IsBot(std::string_view user_agent) const;
};

std::shared_ptr<const Config> Parse(config::ObjectReader& reader);

// The 403 KrakenD answers a bot with.
http::Response BotResponse();

class Stage final : public pipeline::Stage {
 public:
  explicit Stage(const Config& config) : config_(config) {}
  std::string_view name() const override { return kNamespace; }
  pipeline::StageResult OnRequest(pipeline::RequestContext& ctx) const override;

 private:
  const Config& config_;  // owned by the service config, which outlives the stack
};

}  // namespace sluice::components::botdetector
