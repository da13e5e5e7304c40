#include "gateway/components/security/botdetector/detector.h"

#include <vector>

#include "gateway/common/logging.h"
#include "gateway/common/strings.h"

namespace sluice::components::botdetector {

namespace bhttp = boost::beast::http;

std::shared_ptr<const Config> Parse(config::ObjectReader& r) {
  r.CheckKeys({"allow", "deny", "patterns", "empty_user_agent_is_bot", "cache_size"});
  auto c = std::make_shared<Config>();
  for (std::string& s : r.Strings("allow").value_or(std::vector<std::string>{})) {
    c->allow.insert(std::move(s));
  }
  for (std::string& s : r.Strings("deny").value_or(std::vector<std::string>{})) {
    c->deny.insert(std::move(s));
  }
  const std::vector<std::string> patterns =
      r.Strings("patterns").value_or(std::vector<std::string>{});
  if (!patterns.empty()) {
    re2::RE2::Options options;
    options.set_log_errors(false);
    c->patterns = std::make_unique<re2::RE2::Set>(options, re2::RE2::UNANCHORED);
    for (size_t i = 0; i < patterns.size(); ++i) {
      std::string error;
      if (c->patterns->Add(patterns[i], &error) < 0) {
        r.Error("patterns[" + std::to_string(i) + "]", "not a valid RE2 pattern: " + error);
      }
    }
    if (!c->patterns->Compile()) r.Error("patterns", "the patterns do not compile (too large)");
  }
  if (auto v = r.Bool("empty_user_agent_is_bot")) c->empty_user_agent_is_bot = *v;
  // KrakenD caches verdicts in an LRU; Sluice decides each time (same verdicts, no shared
  // cache to lock on the hot path), so the size is only range-checked.
  (void)r.Int("cache_size", 0, int64_t{1} << 30);
  return c;
}

bool Config::IsBot(std::string_view ua) const {
  if (ua.empty()) return empty_user_agent_is_bot;
  const std::string key(ua);
  if (allow.count(key) != 0) return false;
  if (deny.count(key) != 0) return true;
  return patterns != nullptr && patterns->Match(re2::StringPiece(ua.data(), ua.size()), nullptr);
}

http::Response BotResponse() {
  http::Response res(bhttp::status::forbidden, 11);
  return res;
}

pipeline::StageResult Stage::OnRequest(pipeline::RequestContext& ctx) const {
  const http::Request& req = ctx.request();
  auto it = req.find(bhttp::field::user_agent);
  const std::string_view ua = it == req.end() ? std::string_view() : Sv(it->value());
  if (!config_.IsBot(ua)) return pipeline::StageResult::kContinue;
  log::Error("bot rejected: user agent '{}' on {}", ua, Sv(req.target()));
  ctx.response = BotResponse();
  return pipeline::StageResult::kRespond;
}

}  // namespace sluice::components::botdetector
