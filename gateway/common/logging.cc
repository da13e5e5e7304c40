#include "gateway/common/logging.h"

#include <future>
#include <memory>
#include <string>
#include <thread>

#include "spdlog/async.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace sluice::log {
namespace {

// Queue of pending lines for the writer thread: bursts of access-log lines wait here without
// blocking workers; beyond it the oldest line is dropped rather than stalling requests. spdlog
// builds every slot up front (~400 bytes each, every page touched): 8192 slots were 3.3 MB of
// each process's resident memory. The writer keeps up with two workers logging every request
// (no line lost at 128 and 512 connections, docs/performance.md round 12), so the queue only
// absorbs bursts and stalls of whatever reads stderr: 1024 slots hold about 10 ms of 100k
// requests/s with access logs on (8192 held 80 ms). Longer than that, the oldest lines go,
// warnings included, as they did past 80 ms.
constexpr size_t kQueueSize = 1024;

spdlog::level::level_enum ParseLevel(std::string_view level) {
  if (level == "DEBUG") return spdlog::level::debug;
  if (level == "WARNING" || level == "WARN") return spdlog::level::warn;
  if (level == "ERROR") return spdlog::level::err;
  if (level == "CRITICAL") return spdlog::level::critical;
  return spdlog::level::info;
}

}  // namespace

void Init(std::string_view level) {
  if (spdlog::get("sluice") == nullptr) {
    spdlog::init_thread_pool(kQueueSize, 1);
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto logger = std::make_shared<spdlog::async_logger>(
        "sluice", sink, spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ %v");
    spdlog::register_logger(logger);
    spdlog::set_default_logger(logger);
  }
  spdlog::default_logger_raw()->set_level(ParseLevel(level));
  spdlog::default_logger_raw()->flush_on(spdlog::level::warn);
}

bool Shutdown(std::chrono::milliseconds limit) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> flushed = done->get_future();
  std::thread([done] {
    spdlog::default_logger_raw()->flush();
    spdlog::shutdown();
    done->set_value();
  }).detach();
  return flushed.wait_for(limit) == std::future_status::ready;
}

}  // namespace sluice::log
