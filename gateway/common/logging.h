#pragma once

// The one logging facade. Everything in Sluice logs through these functions; spdlog stays an
// implementation detail. The logger is asynchronous (a background thread writes to stderr), so a
// log call on a worker thread costs a formatted copy and a queue push, never a write syscall.

#include <chrono>
#include <string_view>

#include "spdlog/spdlog.h"

namespace sluice::log {

// Sets up the async logger. `level` is a KrakenD level name (DEBUG, INFO, WARNING, ERROR,
// CRITICAL); unknown names mean INFO. Safe to call again to change the level.
void Init(std::string_view level);

// Flushes and stops the background writer, waiting at most `limit`: a stderr nobody reads (a
// full pipe) blocks the writer forever, and must not keep the process from exiting. Returns false
// if the limit passed; the caller must then leave with std::_Exit, without touching stderr or
// running destructors (spdlog's would wait for the writer again). Call once before exit.
bool Shutdown(std::chrono::milliseconds limit);

inline spdlog::logger& Logger() { return *spdlog::default_logger_raw(); }

inline bool DebugEnabled() { return Logger().should_log(spdlog::level::debug); }

template <typename... Args>
void Debug(fmt::format_string<Args...> f, Args&&... args) {
  Logger().debug(f, std::forward<Args>(args)...);
}
template <typename... Args>
void Info(fmt::format_string<Args...> f, Args&&... args) {
  Logger().info(f, std::forward<Args>(args)...);
}
template <typename... Args>
void Warn(fmt::format_string<Args...> f, Args&&... args) {
  Logger().warn(f, std::forward<Args>(args)...);
}
template <typename... Args>
void Error(fmt::format_string<Args...> f, Args&&... args) {
  Logger().error(f, std::forward<Args>(args)...);
}

}  // namespace sluice::log
