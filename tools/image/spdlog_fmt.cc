// The out-of-line parts of spdlog 1.10 and fmt 9 that Debian ships only as shared libraries
// (libspdlog.so, libfmt.so; there is no .a). Sluice's objects are compiled against spdlog in its
// compiled-library mode (SPDLOG_COMPILED_LIB, SPDLOG_FMT_EXTERNAL, from pkg-config), so they call
// these functions instead of inlining them. Compiling the libraries' own -inl.h files here, as
// their src/*.cpp files do, gives a static binary the same symbols without recompiling anything
// else. Only what Sluice uses is instantiated: the async logger, the stderr sink and the registry's
// default colour sink.

#ifndef SPDLOG_COMPILED_LIB
#error "compile with spdlog's pkg-config flags (SPDLOG_COMPILED_LIB)"
#endif

#include <mutex>
#include <string>

// fmt: src/format.cc.
#include "fmt/format-inl.h"

FMT_BEGIN_NAMESPACE
namespace detail {
template FMT_API auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;
template FMT_API locale_ref::locale_ref(const std::locale& loc);
template FMT_API auto locale_ref::get<std::locale>() const -> std::locale;
template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API void buffer<char>::append(const char*, const char*);
template FMT_API void vformat_to(buffer<char>&, string_view,
                                 basic_format_args<FMT_BUFFER_CONTEXT(char)>, locale_ref);
}  // namespace detail
FMT_END_NAMESPACE

// spdlog: src/spdlog.cpp.
#include "spdlog/common-inl.h"
#include "spdlog/details/backtracer-inl.h"
#include "spdlog/details/log_msg-inl.h"
#include "spdlog/details/log_msg_buffer-inl.h"
#include "spdlog/details/null_mutex.h"
#include "spdlog/details/os-inl.h"
#include "spdlog/details/registry-inl.h"
#include "spdlog/logger-inl.h"
#include "spdlog/pattern_formatter-inl.h"
#include "spdlog/sinks/base_sink-inl.h"
#include "spdlog/sinks/sink-inl.h"
#include "spdlog/spdlog-inl.h"

template class SPDLOG_API spdlog::sinks::base_sink<std::mutex>;
template class SPDLOG_API spdlog::sinks::base_sink<spdlog::details::null_mutex>;

// spdlog: src/async.cpp.
#include "spdlog/async.h"
#include "spdlog/async_logger-inl.h"
#include "spdlog/details/periodic_worker-inl.h"
#include "spdlog/details/thread_pool-inl.h"

// spdlog: src/color_sinks.cpp, the colour stdout sink the registry's default logger uses.
#include "spdlog/sinks/ansicolor_sink-inl.h"

template class SPDLOG_API spdlog::sinks::ansicolor_sink<spdlog::details::console_mutex>;
template class SPDLOG_API spdlog::sinks::ansicolor_stdout_sink<spdlog::details::console_mutex>;

// spdlog: src/stdout_sinks.cpp, the stderr sink only.
#include "spdlog/sinks/stdout_sinks-inl.h"

template class SPDLOG_API spdlog::sinks::stdout_sink_base<spdlog::details::console_mutex>;
template class SPDLOG_API spdlog::sinks::stderr_sink<spdlog::details::console_mutex>;
