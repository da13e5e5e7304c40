#include "gateway/runtime/reload.h"

#include <sys/stat.h>

#include <chrono>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "boost/asio/post.hpp"
#include "gateway/common/logging.h"

namespace sluice::runtime {

namespace {

// How long Swap waits for every worker to take the new dispatcher. A worker busy for longer
// takes it when it next runs; the reload is live everywhere else already.
constexpr auto kSwapWait = std::chrono::seconds(5);

using Json = nlohmann::json;

// An effective config's value at `pointer` ("/tls", "/extra_config/sluice~1admin"), or null.
Json At(const Json& effective, const char* pointer) {
  const Json::json_pointer p(pointer);
  return effective.contains(p) ? effective.at(p) : Json();
}

}  // namespace

LiveHandler::LiveHandler(std::vector<boost::asio::io_context*> workers,
                         boost::asio::io_context* reaper)
    : workers_(std::move(workers)), reaper_(reaper), slots_(workers_.size()) {}

LiveHandler::Share::~Share() {
  // The last request of a replaced dispatcher ended (on a worker): tear it down on the reaper.
  // Once the main loop has stopped (shutdown), the workers may still be running: the dispatcher
  // is then destroyed here, on a worker, which owns none of its sockets (they are the workers',
  // and outlive it). A JWK fetch in progress is cancelled, not waited out (RemoteKeys).
  if (reaper != nullptr && !reaper->stopped()) {
    boost::asio::post(*reaper, [d = std::move(dispatcher)]() mutable { d.reset(); });
  }
}

void LiveHandler::Set(Slot& slot, std::shared_ptr<pipeline::Dispatcher> d,
                      boost::asio::io_context* reaper) {
  slot.dispatcher = d.get();
  auto share = std::make_shared<Share>();
  share->dispatcher = std::move(d);
  share->reaper = reaper;
  slot.share = std::move(share);
}

void LiveHandler::Install(std::shared_ptr<pipeline::Dispatcher> first) {
  for (Slot& slot : slots_) Set(slot, first, reaper_);
}

void LiveHandler::Swap(std::shared_ptr<pipeline::Dispatcher> next) {
  auto left = std::make_shared<std::atomic<size_t>>(workers_.size());
  auto all = std::make_shared<std::promise<void>>();
  std::future<void> done = all->get_future();
  for (size_t w = 0; w < workers_.size(); ++w) {
    boost::asio::post(*workers_[w], [this, w, next, left, all] {
      Set(slots_[w], next, reaper_);
      if (left->fetch_sub(1) == 1) all->set_value();
    });
  }
  if (!workers_.empty() && done.wait_for(kSwapWait) != std::future_status::ready) {
    log::Warn(
        "reload: a worker has not taken the new configuration after {} s; it will when it "
        "next runs",
        std::chrono::duration_cast<std::chrono::seconds>(kSwapWait).count());
  }
}

void LiveHandler::Handle(http::ExchangePtr exchange) {
  Slot& slot = slots_[static_cast<size_t>(exchange->worker_index())];
  slot.dispatcher->Handle(std::move(exchange), slot.share);
}

std::string NeedsRestart(const config::ServiceConfig& live, const config::ServiceConfig& next,
                         bool port_from_flag) {
  std::vector<std::string> changed;
  auto scalar = [&](const char* key, const auto& a, const auto& b) {
    if (a != b) changed.push_back(absl::StrCat(key, " (", a, " -> ", b, ")"));
  };
  auto flag = [&](const char* key, bool a, bool b) {
    if (a != b)
      changed.push_back(
          absl::StrCat(key, " (", a ? "true" : "false", " -> ", b ? "true" : "false", ")"));
  };
  auto duration = [&](const char* key, absl::Duration a, absl::Duration b) {
    if (a != b) {
      changed.push_back(
          absl::StrCat(key, " (", absl::FormatDuration(a), " -> ", absl::FormatDuration(b), ")"));
    }
  };
  const Json live_effective = live.effective();
  const Json next_effective = next.effective();
  auto section = [&](const char* key, const char* pointer) {
    if (At(live_effective, pointer) != At(next_effective, pointer)) changed.push_back(key);
  };
  if (!port_from_flag) scalar("port", live.port, next.port);
  scalar("listen_ip", live.listen_ip, next.listen_ip);
  flag("use_h2c", live.use_h2c, next.use_h2c);
  duration("read_header_timeout", live.read_header_timeout, next.read_header_timeout);
  duration("read_timeout", live.read_timeout, next.read_timeout);
  duration("write_timeout", live.write_timeout, next.write_timeout);
  duration("idle_timeout", live.idle_timeout, next.idle_timeout);
  scalar("max_header_bytes", live.max_header_bytes, next.max_header_bytes);
  flag("router.disable_access_log", !live.logging.access_log, !next.logging.access_log);
  flag("router.hide_version_header", live.hide_version_header, next.hide_version_header);
  scalar("telemetry/logging level", live.logging.level, next.logging.level);
  scalar("admin address", live.admin.address.ToString(), next.admin.address.ToString());
  scalar("metrics address", live.admin.metrics_address.ToString(),
         next.admin.metrics_address.ToString());
  section("tls", "/tls");
  section("client_tls", "/client_tls");
  section("extra_config.\"sluice/http\"", "/extra_config/sluice~1http");
  section("extra_config.\"sluice/admin\"", "/extra_config/sluice~1admin");
  section("extra_config.\"sluice/cluster-ratelimit\"", "/extra_config/sluice~1cluster-ratelimit");
  if (changed.empty()) return "";
  return absl::StrCat(absl::StrJoin(changed, ", "),
                      " changed: the listeners, admin plane and connection pools are set up at "
                      "start, so this needs a restart (or a blue/green rollout)");
}

std::string FileIdentity(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";
  return absl::StrCat(st.st_dev, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec);
}

ReloadRecord ReloadConfig(const ReloadDeps& deps, std::string trigger) {
  const absl::Time start = absl::Now();
  ReloadRecord record;
  record.at = start;
  record.trigger = std::move(trigger);
  std::shared_ptr<const config::ServiceConfig> live = deps.state->config();
  const std::string& path = live->file_path;
  auto finish = [&](std::string result, std::string error) {
    record.result = std::move(result);
    record.error = std::move(error);
    record.took = absl::Now() - start;
    deps.state->Record(record);
    return record;
  };

  config::LoadResult loaded = deps.load();
  if (loaded.config != nullptr) record.sha256 = loaded.config->sha256_hex;
  if (!loaded.errors.empty()) {
    for (const auto& d : loaded.errors) {
      log::Error("reload ({}): {}", record.trigger, config::FormatDiagnostic(path, d));
    }
    std::string error = config::FormatDiagnostic(path, loaded.errors.front());
    if (loaded.errors.size() > 1)
      absl::StrAppend(&error, " (and ", loaded.errors.size() - 1, " more)");
    log::Error("reload ({}): kept config sha256 {}: {} error(s) in the new file", record.trigger,
               live->sha256_hex, loaded.errors.size());
    return finish("failed", std::move(error));
  }
  std::shared_ptr<const config::ServiceConfig> next = loaded.config;
  if (next->sha256_hex == live->sha256_hex) return finish("unchanged", "");
  for (const auto& d : loaded.warnings) {
    log::Warn("reload: {}", config::FormatDiagnostic(path, d));
  }
  if (std::string why = NeedsRestart(*live, *next, deps.port_from_flag); !why.empty()) {
    std::string error = absl::StrCat(path, ": ", why);
    log::Error("reload ({}): kept config sha256 {}: {}", record.trigger, live->sha256_hex, error);
    return finish("failed", std::move(error));
  }
  auto built = pipeline::Dispatcher::Create(next, deps.workers, deps.debug, *deps.registry,
                                            deps.draining, nullptr, deps.rest);
  if (!built.ok()) {
    std::string error = absl::StrCat(path, ": ", built.status().message());
    log::Error("reload ({}): kept config sha256 {}: {}", record.trigger, live->sha256_hex, error);
    return finish("failed", std::move(error));
  }
  std::shared_ptr<pipeline::Dispatcher> dispatcher(std::move(*built));
  const metrics::Slots slots = dispatcher->slots();
  deps.live->Swap(std::move(dispatcher));
  deps.registry->Activate(slots);
  deps.state->SetConfig(next);
  if (!next->unprotected.empty()) {
    log::Error("running with --allow-unprotected: {} protection(s) of {} are NOT enforced: {}",
               next->unprotected.size(), path, absl::StrJoin(next->unprotected, ", "));
  }
  ReloadRecord done = finish("ok", "");
  // Through the logger, never straight to stderr: a full stderr pipe must not stop the main loop.
  log::Info("reload ({}): config \"{}\" sha256 {} live ({} endpoints) in {}", done.trigger,
            next->name, next->sha256_hex, next->endpoints.size(), absl::FormatDuration(done.took));
  return done;
}

}  // namespace sluice::runtime
