// sluice: the command line. The only place that wires config, logging, workers, the gateway
// handler and the HTTP front together.

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#ifdef SLUICE_MIMALLOC
#include <mimalloc.h>
#endif

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "admin/admin_server.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/signal_set.hpp"
#include "boost/asio/steady_timer.hpp"
#include "gateway/common/logging.h"
#include "gateway/components/registry.h"
#include "gateway/config/config.h"
#include "gateway/http/server.h"
#include "gateway/http/tls.h"
#include "gateway/metrics/registry.h"
#include "gateway/pipeline/dispatcher.h"
#include "gateway/runtime/instance_state.h"
#include "gateway/runtime/reload.h"
#include "gateway/version/version.h"

namespace sluice {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitConfigError = 1;
constexpr int kExitUsage = 2;

// While draining, how often the main thread checks whether the last connection has closed.
constexpr auto kDrainPollInterval = std::chrono::milliseconds(20);
// How often the TLS certificate files are checked for a change (a few stat calls).
constexpr auto kTlsWatchInterval = std::chrono::seconds(2);
// How long the log writer may take to flush at exit. A reader that is merely slow gets this long;
// a pipe nobody reads never drains, and the process exits anyway.
constexpr auto kLogFlushLimit = std::chrono::seconds(2);

constexpr char kMainHelp[] =
    "Sluice: a KrakenD-compatible API gateway.\n"
    "\n"
    "Usage:\n"
    "  sluice run -c FILE [-p PORT] [-d]      run the gateway\n"
    "  sluice check -c FILE [--lint] [-d]     validate a configuration file\n"
    "  sluice version                         print the version and git revision\n"
    "\n"
    "Run 'sluice COMMAND --help' for a command's options.\n"
    "Exit codes: 0 ok, 1 configuration error, 2 usage error.\n";

constexpr char kRunHelp[] =
    "Usage: sluice run -c FILE [-p PORT] [-d] [--allow-unprotected]\n"
    "\n"
    "Runs the gateway with the KrakenD-format configuration FILE.\n"
    "  -c, --config FILE   configuration file (required)\n"
    "  -p, --port PORT     listen on PORT instead of the file's `port`\n"
    "  -d, --debug         enable /__debug/ and debug logging\n"
    "  --allow-unprotected run a file whose protections (JWT validation, CORS, rate limits,\n"
    "                      `tls`...) Sluice does not enforce, WITHOUT them; refused otherwise\n"
    "Environment: SLUICE_NAME, SLUICE_PORT, SLUICE_TIMEOUT override `name`, `port`, `timeout`;\n"
    "SLUICE_ADMIN_ADDRESS and SLUICE_METRICS_ADDRESS the admin and metrics listeners.\n"
    "SIGTERM/SIGINT drain in-flight requests and exit 0. SIGHUP reloads the configuration\n"
    "file (and the TLS certificates) without a restart; so does admin.Admin/Reload.\n";

constexpr char kCheckHelp[] =
    "Usage: sluice check -c FILE [--lint] [-d] [--allow-unprotected]\n"
    "\n"
    "Validates FILE and reports every error with its JSON path.\n"
    "  -c, --config FILE   configuration file (required)\n"
    "  -l, --lint          also report unknown keys (keys starting with @ $ _ # are allowed)\n"
    "  -d, --debug         print the interpreted configuration\n"
    "  --allow-unprotected accept protections Sluice does not enforce, as `run` would with it\n"
    "Exit codes: 0 valid, 1 invalid, 2 usage error.\n";

constexpr char kVersionHelp[] = "Usage: sluice version\n\nPrints the version and git revision.\n";

struct Flags {
  std::string config;
  std::optional<int> port;
  bool debug = false;
  bool lint = false;
  bool allow_unprotected = false;
  bool help = false;
};

// Parses the flags of one sub-command. `allowed` lists the long names it accepts.
std::optional<Flags> ParseFlags(const std::vector<std::string>& args,
                                const std::vector<std::string>& allowed, std::string* error) {
  Flags f;
  auto allows = [&](const std::string& name) {
    return std::find(allowed.begin(), allowed.end(), name) != allowed.end();
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        *error = absl::StrCat("flag ", a, " needs a value (", name, ")");
        return std::nullopt;
      }
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      f.help = true;
    } else if ((a == "-c" || a == "--config") && allows("config")) {
      auto v = value("FILE");
      if (!v) return std::nullopt;
      f.config = *v;
    } else if ((a == "-p" || a == "--port") && allows("port")) {
      auto v = value("PORT");
      int port = 0;
      if (!v) return std::nullopt;
      if (!absl::SimpleAtoi(*v, &port) || port < 0 || port > 65535) {
        *error = absl::StrCat("invalid port \"", *v, "\" (0-65535)");
        return std::nullopt;
      }
      f.port = port;
    } else if ((a == "-d" || a == "--debug") && allows("debug")) {
      f.debug = true;
    } else if ((a == "-l" || a == "--lint") && allows("lint")) {
      f.lint = true;
    } else if (a == "--allow-unprotected" && allows("allow-unprotected")) {
      f.allow_unprotected = true;
    } else {
      *error = absl::StrCat("unknown argument \"", a, "\"");
      return std::nullopt;
    }
  }
  return f;
}

config::LoadResult LoadWith(const Flags& flags) {
  return components::LoadConfigFile(
      flags.config, &config::ProcessEnv,
      flags.allow_unprotected ? components::Unprotected::kAllow : components::Unprotected::kRefuse);
}

int Usage(const std::string& error, const char* help) {
  std::cerr << "sluice: " << error << "\n\n" << help;
  return kExitUsage;
}

// Loads and validates; prints every error and warning. nullptr on failure.
std::shared_ptr<const config::ServiceConfig> Load(const Flags& flags) {
  const std::string& path = flags.config;
  config::LoadResult result = LoadWith(flags);
  for (const auto& d : result.errors) std::cerr << config::FormatDiagnostic(path, d) << "\n";
  for (const auto& d : result.warnings) std::cerr << config::FormatDiagnostic(path, d) << "\n";
  if (!result.errors.empty()) {
    std::cerr << path << ": " << result.errors.size() << " error(s)\n";
    return nullptr;
  }
  return result.config;
}

// The admin listener's certificate (sluice/admin.tls): read and checked as the public one is.
absl::Status CheckAdminTls(const config::AdminConfig& admin) {
  if (admin.tls.certificate.empty()) return absl::OkStatus();
  config::ListenerTls tls;
  tls.enabled = true;
  tls.min_version = config::kTls12;
  tls.json_path = admin.tls.json_path;
  tls.keys.push_back(admin.tls);
  tls.keys.back().json_path = admin.tls.json_path;
  if (!admin.tls_client_ca.empty()) {
    tls.enable_mtls = true;
    tls.ca_certs.push_back(admin.tls_client_ca);
    tls.ca_certs_key = "client_ca";
  }
  auto built = http::ServerTls::Create(tls);
  return built.ok() ? absl::OkStatus() : built.status();
}

int Check(const Flags& flags) {
  config::LoadResult result = LoadWith(flags);
  for (const auto& d : result.errors)
    std::cerr << config::FormatDiagnostic(flags.config, d) << "\n";
  for (const auto& d : result.warnings)
    std::cerr << config::FormatDiagnostic(flags.config, d) << "\n";
  size_t problems = result.errors.size();
  if (flags.lint) {
    for (const auto& d : result.lint)
      std::cerr << config::FormatDiagnostic(flags.config, d) << "\n";
    problems += result.lint.size();
  }
  if (problems == 0) {
    // Build every endpoint's stack exactly as `run` would (without workers: nothing starts),
    // so that check never accepts a file that run refuses.
    metrics::Registry registry(0);
    std::atomic<bool> draining{false};
    auto dispatcher = pipeline::Dispatcher::Create(result.config, {}, false, registry, &draining);
    if (!dispatcher.ok()) {
      std::cerr << flags.config << ": " << dispatcher.status().message() << "\n";
      ++problems;
    }
    if (absl::Status st = CheckAdminTls(result.config->admin); !st.ok()) {
      std::cerr << flags.config << ": " << st.message() << "\n";
      ++problems;
    }
    // The listener's certificates are read and checked as run would (files, key, expiry).
    if (result.config->tls.enabled) {
      if (auto tls = http::ServerTls::Create(result.config->tls); !tls.ok()) {
        std::cerr << flags.config << ": " << tls.status().message() << "\n";
        ++problems;
      }
    }
  }
  if (problems > 0) {
    std::cerr << flags.config << ": " << problems << " error(s)\n";
    return kExitConfigError;
  }
  if (flags.debug) std::cout << config::Describe(*result.config);
  std::cout << "Syntax OK! " << flags.config << " (" << result.config->endpoints.size()
            << " endpoints, sha256 " << result.config->sha256_hex << ")\n";
  return kExitOk;
}

int Run(const Flags& flags) {
  // The file's identity as it is read (sluice/reload watch): taken before reading, so a change
  // made while the gateway starts is a change the watch sees, not its starting point.
  std::string watched = runtime::FileIdentity(flags.config);
  std::shared_ptr<const config::ServiceConfig> cfg = Load(flags);
  if (cfg == nullptr) return kExitConfigError;
  log::Init(flags.debug ? "DEBUG" : cfg->logging.level);
  if (!cfg->unprotected.empty()) {
    log::Error("running with --allow-unprotected: {} protection(s) of {} are NOT enforced: {}",
               cfg->unprotected.size(), cfg->file_path, absl::StrJoin(cfg->unprotected, ", "));
  }

  int workers = cfg->tuning.workers;
  if (workers <= 0) workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  http::WorkerPool pool(workers);
  metrics::Registry registry(workers);
  runtime::InstanceState state(cfg, registry, workers);
  std::vector<boost::asio::io_context*> loops;
  for (int i = 0; i < pool.size(); ++i) loops.push_back(&pool.context(i));
  // The main thread's loop: signals, reloads, and the teardown of replaced configurations.
  boost::asio::io_context main_ctx(1);
  // The signals are caught from here on, before anything listens: a SIGTERM (or SIGHUP) that
  // arrives once the port is open but before the loop below waits for it is held for that wait,
  // instead of killing the process by the default action with connections open.
  boost::asio::signal_set signals(main_ctx, SIGINT, SIGTERM);
  boost::asio::signal_set reload_signal(main_ctx, SIGHUP);
  auto rest = pipeline::Dispatcher::MakeRestClients(*cfg, loops);
  if (!rest.ok()) {
    std::cerr << flags.config << ": " << rest.status().message() << "\n";
    return kExitConfigError;
  }
  auto dispatcher = pipeline::Dispatcher::Create(cfg, loops, flags.debug, registry,
                                                 &state.draining_flag(), nullptr, *rest);
  if (!dispatcher.ok()) {
    std::cerr << flags.config << ": " << dispatcher.status().message() << "\n";
    return kExitConfigError;
  }
  registry.Activate((*dispatcher)->slots());
  runtime::LiveHandler live(loops, &main_ctx);
  live.Install(std::shared_ptr<pipeline::Dispatcher>(std::move(*dispatcher)));
  runtime::ReloadDeps reload_deps;
  reload_deps.load = [&flags] { return LoadWith(flags); };
  reload_deps.workers = loops;
  reload_deps.debug = flags.debug;
  reload_deps.port_from_flag = flags.port.has_value();
  reload_deps.registry = &registry;
  reload_deps.draining = &state.draining_flag();
  reload_deps.rest = *rest;
  reload_deps.live = &live;
  reload_deps.state = &state;

  http::ServerOptions options;
  options.listen_ip = cfg->listen_ip;
  options.port = flags.port ? static_cast<uint16_t>(*flags.port) : cfg->port;
  options.workers = workers;
  options.read_header_timeout = cfg->read_header_timeout;
  options.read_timeout = cfg->read_timeout;
  options.write_timeout = cfg->write_timeout;
  options.idle_timeout = cfg->idle_timeout;
  options.max_header_bytes = cfg->max_header_bytes;
  options.max_body_bytes = cfg->tuning.max_body_bytes;
  options.access_log = cfg->logging.access_log;
  options.use_h2c = cfg->use_h2c;
  options.max_connections = cfg->tuning.max_connections;
  options.max_buffered_request_bytes = cfg->tuning.max_buffered_request_bytes;
  // KrakenD answers with "X-Krakend: Version <v>" unless router.hide_version_header is set.
  if (!cfg->hide_version_header) {
    options.identity_header_name = "X-Krakend";
    options.identity_header_value = std::string(version::UserAgent());
  }
  if (absl::Status st = CheckAdminTls(cfg->admin); !st.ok()) {
    std::cerr << flags.config << ": " << st.message() << "\n";
    return kExitConfigError;
  }
  std::unique_ptr<http::ServerTlsStore> tls;
  if (cfg->tls.enabled) {
    auto first = http::ServerTls::Create(cfg->tls);
    if (!first.ok()) {
      std::cerr << flags.config << ": " << first.status().message() << "\n";
      return kExitConfigError;
    }
    log::Info("tls: serving HTTPS (HTTP/1.1 and h2) with {}", (*first)->summary());
    tls = std::make_unique<http::ServerTlsStore>(cfg->tls, std::move(*first));
    options.tls = tls.get();
  }
  http::Server server(options, pool, live);
  if (absl::Status st = server.Start(); !st.ok()) {
    log::Error("{}", std::string(st.message()));
    if (!log::Shutdown(kLogFlushLimit)) std::_Exit(kExitConfigError);
    return kExitConfigError;
  }
  pool.Start();
  const std::string public_address =
      fmt::format("{}:{}", cfg->listen_ip.empty() ? "0.0.0.0" : cfg->listen_ip, server.port());
  state.set_server(&server, public_address);
  auto admin = admin::AdminServer::Start(state);
  if (!admin.ok()) {
    std::cerr << flags.config << ": " << admin.status().message() << "\n";
    server.BeginShutdown();
    pool.Stop();
    log::Shutdown(kLogFlushLimit);
    std::_Exit(kExitConfigError);
  }
  // Lifecycle lines go to stderr whatever the log level: operators and tests rely on them.
  std::cerr << fmt::format(
      "sluice {} ({}) \"{}\" listening on {} with {} workers, {} endpoints, config {} sha256 {}; "
      "admin listening on {}, metrics on {}\n",
      version::Version(), version::GitRevision(), cfg->name, public_address, workers,
      cfg->endpoints.size(), cfg->file_path, cfg->sha256_hex, (*admin)->grpc_address(),
      (*admin)->metrics_address());

  // Every reload reads the file as it is now: what the watch compares against from then on, so
  // a file already reloaded by SIGHUP or admin.Admin/Reload is not reloaded again by the watch.
  // Runs on this loop only.
  auto reload = [&](const std::string& trigger) {
    watched = runtime::FileIdentity(state.config()->file_path);
    return runtime::ReloadConfig(reload_deps, trigger);
  };
  // admin.Admin/Reload runs the reload on this loop and waits for it.
  state.set_reloader([&](std::string trigger) {
    auto promise = std::make_shared<std::promise<runtime::ReloadRecord>>();
    std::future<runtime::ReloadRecord> result = promise->get_future();
    boost::asio::post(main_ctx,
                      [&reload, promise, trigger] { promise->set_value(reload(trigger)); });
    while (result.wait_for(kDrainPollInterval) != std::future_status::ready) {
      if (main_ctx.stopped()) {
        runtime::ReloadRecord stopping;
        stopping.at = absl::Now();
        stopping.trigger = trigger;
        stopping.result = "failed";
        stopping.error = "the gateway is stopping";
        return stopping;
      }
    }
    return result.get();
  });
  // SIGHUP: the configuration file and the certificates are read again. Certificates are also
  // read when their files change (a Kubernetes secret update swaps a symlink): new handshakes
  // use the new ones, open connections keep theirs.
  boost::asio::steady_timer tls_watch(main_ctx);
  std::function<void(bool)> reload_tls = [&](bool force) {
    if (tls == nullptr) return;
    std::string message;
    switch (tls->Reload(force, &message)) {
      case http::ServerTlsStore::Outcome::kReloaded:
        std::cerr << "tls: new certificates live: " << message << "\n";
        break;
      case http::ServerTlsStore::Outcome::kFailed:
        log::Error("tls: kept the current certificates, the new files fail: {}", message);
        break;
      case http::ServerTlsStore::Outcome::kUnchanged:
        break;
    }
  };
  std::function<void()> wait_for_hup = [&] {
    reload_signal.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      log::Info("received SIGHUP: reading the configuration and TLS certificates again");
      reload("SIGHUP");
      reload_tls(true);
      wait_for_hup();
    });
  };
  wait_for_hup();
  std::function<void()> watch_tls = [&] {
    if (tls == nullptr) return;
    tls_watch.expires_after(kTlsWatchInterval);
    tls_watch.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      reload_tls(false);
      watch_tls();
    });
  };
  watch_tls();
  // sluice/reload watch: the config file's identity (through symlinks) checked every interval;
  // a change reloads. Follows the live config, so a reload can turn it on or off.
  boost::asio::steady_timer config_watch(main_ctx);
  std::function<void()> watch_config = [&] {
    const config::ReloadSettings settings = state.config()->reload;
    config_watch.expires_after(absl::ToChronoNanoseconds(settings.interval));
    config_watch.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      if (state.config()->reload.watch) {
        std::string now = runtime::FileIdentity(state.config()->file_path);
        if (now != watched && !now.empty()) reload("watch");
      }
      watch_config();
    });
  };
  watch_config();
  boost::asio::steady_timer poll(main_ctx);
  std::chrono::steady_clock::time_point give_up = std::chrono::steady_clock::time_point::max();
  std::function<void()> wait_for_drain = [&] {
    if (server.open_connections() == 0 || std::chrono::steady_clock::now() >= give_up) {
      if (server.open_connections() > 0) {
        log::Warn("max_shutdown_wait_time reached with {} connections open",
                  server.open_connections());
      }
      main_ctx.stop();
      return;
    }
    poll.expires_after(kDrainPollInterval);
    poll.async_wait([&](const boost::system::error_code&) { wait_for_drain(); });
  };
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log::Info("received signal {}: draining {} connections", signo, server.open_connections());
    const absl::Duration wait = state.config()->max_shutdown_wait_time;
    if (wait > absl::ZeroDuration()) {
      give_up = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(wait);
    }
    tls_watch.cancel();
    config_watch.cancel();
    reload_signal.cancel();
    state.Drain();  // readiness (/__health, grpc.health.v1) goes down first
    server.BeginShutdown();
    wait_for_drain();
  });
  main_ctx.run();
  (*admin)->Shutdown();
  pool.Stop();
  const int64_t abandoned = server.open_connections();
  if (!log::Shutdown(kLogFlushLimit)) {
    // Nobody reads our stderr (a full pipe): the pending lines cannot be written, and neither
    // can anything else. Leave rather than hang.
    std::_Exit(kExitOk);
  }
  std::cerr << "sluice stopped\n";
  if (abandoned > 0) {
    // Connections still open past max_shutdown_wait_time have handlers queued on the stopped
    // workers that reference the server and pipelines; destroying those objects in order is not
    // possible, so leave without running destructors.
    std::cerr.flush();
    std::_Exit(kExitOk);
  }
  return kExitOk;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return Usage("missing command", kMainHelp);
  const std::string command = args.front();
  args.erase(args.begin());
  std::string error;
  if (command == "-h" || command == "--help" || command == "help") {
    std::cout << kMainHelp;
    return kExitOk;
  }
  if (command == "version") {
    auto flags = ParseFlags(args, {}, &error);
    if (!flags) return Usage(error, kVersionHelp);
    if (flags->help) {
      std::cout << kVersionHelp;
      return kExitOk;
    }
    std::cout << "Sluice Version " << version::Version() << " (revision " << version::GitRevision()
              << ")\n";
    return kExitOk;
  }
  if (command == "run" || command == "check") {
    const bool run = command == "run";
    const char* help = run ? kRunHelp : kCheckHelp;
    auto flags = run ? ParseFlags(args, {"config", "port", "debug", "allow-unprotected"}, &error)
                     : ParseFlags(args, {"config", "lint", "debug", "allow-unprotected"}, &error);
    if (!flags) return Usage(error, help);
    if (flags->help) {
      std::cout << help;
      return kExitOk;
    }
    if (flags->config.empty()) return Usage("-c FILE is required", help);
    return run ? Run(*flags) : Check(*flags);
  }
  return Usage(absl::StrCat("unknown command \"", command, "\""), kMainHelp);
}

}  // namespace
}  // namespace sluice

int main(int argc, char** argv) {
#ifdef SLUICE_MIMALLOC
  // Give freed memory back to the system after 100 ms (mimalloc's default: 25 ms, extended while
  // the memory keeps being used). A connection's buffers are freed when it closes: given back
  // sooner (5 ms before), they were faulted in again by the next connections, each fault a trip
  // through the hypervisor here; with one TLS handshake per request that was 3-6 page faults and
  // 150-230 µs of kernel time per connection against nginx's 0.1 and 90-100 (docs/performance.md,
  // round 9). The price: the buffers a large answer outgrows (those of up to ~16 MiB; mimalloc
  // unmaps larger ones at once) stay resident about 100 ms (security_test's peak). Giving memory
  // back at once (0) cost 1-6 µs per request even on kept-alive connections.
  mi_option_set(mi_option_decommit_delay, 100);
#endif
  // Debian builds Abseil without NDEBUG, so every absl::Mutex lock (gRPC takes many per call)
  // runs deadlock-cycle detection: ~2% of a gRPC-backed request's CPU. Our locks are few and
  // tested; the detector is a debugging aid.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // A write to a connection the peer has closed is an error to its writer, not the end of the
  // process: OpenSSL writes the TLS listener's sockets itself (http/tls_stream.h), without
  // MSG_NOSIGNAL (Asio's sends and nghttp2's carry it).
  std::signal(SIGPIPE, SIG_IGN);
  return sluice::Main(argc, argv);
}
