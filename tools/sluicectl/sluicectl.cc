// sluicectl: the admin API from a shell, for hosts and images without grpcurl. It is what the
// Kubernetes preStop hook and tools/bluegreen run: drain an instance, wait until the load balancer
// has stopped sending it requests, check readiness, read which revision is live.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "proto/admin/admin.grpc.pb.h"

namespace sluice::ctl {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

// One admin call answers from memory; 5 s covers a loaded 2-core machine with margin.
constexpr absl::Duration kCallTimeout = absl::Seconds(5);
// How often the wait-* commands ask again: a tenth of a second is far below any load balancer's
// check interval, and an admin call costs the gateway microseconds.
constexpr absl::Duration kPollInterval = absl::Milliseconds(100);
constexpr char kDefaultAdmin[] = "127.0.0.1:9091";

constexpr char kHelp[] =
    "Usage: sluicectl [--admin HOST:PORT] [--token-env VAR | --token-file PATH] COMMAND\n"
    "\n"
    "Commands:\n"
    "  status [--field NAME]   admin.Admin/Status as JSON, or one field (name, git_revision,\n"
    "                          state, pid, config_sha256, ...)\n"
    "  health [SERVICE]        grpc.health.v1 Check (default service sluice.Gateway);\n"
    "                          exit 0 only if SERVING\n"
    "  drain [--wait-idle D] [--timeout D]\n"
    "                          admin.Admin/Drain; with --wait-idle, then wait as wait-idle does\n"
    "  resume                  admin.Admin/Resume\n"
    "  reload [--wait] [--timeout D]\n"
    "                          admin.Admin/Reload: read the config file again; exit 0 only if\n"
    "                          it is live (or unchanged); with --wait, then wait until Status\n"
    "                          reports its sha256\n"
    "  wait-ready [--timeout D]\n"
    "                          wait until grpc.health.v1 reports sluice.Gateway SERVING\n"
    "  wait-idle [--quiet D] [--timeout D]\n"
    "                          wait until no request is in flight and none has arrived for D\n"
    "                          (default 2s): the load balancer no longer sends any\n"
    "  wait-traffic [--min N] [--timeout D]\n"
    "                          wait until N (default 1) more requests have been answered: the\n"
    "                          load balancer sends it traffic\n"
    "  wait-gone [--timeout D] wait until the admin listener stops answering (process exited)\n"
    "\n"
    "--admin defaults to $SLUICE_ADMIN_ADDRESS (the gateway's own listen setting; \":9091\" and\n"
    "\"0.0.0.0:9091\" mean 127.0.0.1:9091), else 127.0.0.1:9091. The bearer token for Drain,\n"
    "Resume and Reload is read from $SLUICE_ADMIN_TOKEN unless --token-env or --token-file say "
    "otherwise.\n"
    "Durations are Go-style (500ms, 2s, 1m); --timeout defaults to 30s.\n"
    "Exit codes: 0 ok, 1 failed or timed out, 2 usage error.\n";

struct Options {
  std::string admin;
  std::string token;
  std::string command;
  std::vector<std::string> args;
};

int Usage(const std::string& error) {
  std::cerr << "sluicectl: " << error << "\n\n" << kHelp;
  return kExitUsage;
}

// The gateway accepts ":PORT" and "0.0.0.0:PORT" as listen addresses; a client connects to
// loopback on that port instead.
std::string ConnectAddress(std::string address) {
  if (absl::StartsWith(address, ":")) return "127.0.0.1" + address;
  if (absl::StartsWith(address, "0.0.0.0:")) return "127.0.0.1" + address.substr(7);
  if (absl::StartsWith(address, "[::]:")) return "[::1]" + address.substr(4);
  return address;
}

std::unique_ptr<grpc::ClientContext> Context(const Options& options,
                                             absl::Duration timeout = kCallTimeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (!options.token.empty()) ctx->AddMetadata("authorization", "Bearer " + options.token);
  return ctx;
}

std::string Json(const google::protobuf::Message& message, bool proto_names) {
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.always_print_primitive_fields = true;
  print.preserve_proto_field_names = proto_names;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, print);
  return out;
}

int Failed(const std::string& what, const grpc::Status& status) {
  std::cerr << "sluicectl: " << what << ": " << status.error_message() << " (code "
            << status.error_code() << ")\n";
  return kExitFailed;
}

// Parses "--name VALUE" flags (and value-less switches: kSwitches) of a sub-command into
// durations/strings; anything else is an error.
class SubFlags {
 public:
  static constexpr std::string_view kSwitches[] = {"wait"};

  explicit SubFlags(const std::vector<std::string>& args) : args_(args) {}

  // Returns false (and sets error) on an unknown flag or a malformed value.
  bool Parse(const std::vector<std::string>& names, std::string* error) {
    for (size_t i = 0; i < args_.size(); ++i) {
      const std::string& a = args_[i];
      if (!absl::StartsWith(a, "--")) {
        positional_.push_back(a);
        continue;
      }
      std::string name = a.substr(2);
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        *error = absl::StrCat("unknown flag ", a);
        return false;
      }
      if (std::find(std::begin(kSwitches), std::end(kSwitches), name) != std::end(kSwitches)) {
        values_.emplace_back(name, "true");
        continue;
      }
      if (i + 1 >= args_.size()) {
        *error = absl::StrCat("flag ", a, " needs a value");
        return false;
      }
      values_.emplace_back(name, args_[++i]);
    }
    return true;
  }

  bool Has(const std::string& name) const { return Get(name).has_value(); }

  std::optional<std::string> Get(const std::string& name) const {
    for (const auto& [k, v] : values_) {
      if (k == name) return v;
    }
    return std::nullopt;
  }

  // A duration flag, `fallback` if absent; nullopt (with error) if malformed.
  std::optional<absl::Duration> Duration(const std::string& name, absl::Duration fallback,
                                         std::string* error) const {
    auto v = Get(name);
    if (!v) return fallback;
    absl::Duration d;
    if (!absl::ParseDuration(*v, &d) || d < absl::ZeroDuration()) {
      *error = absl::StrCat("--", name, ": bad duration \"", *v, "\"");
      return std::nullopt;
    }
    return d;
  }

  const std::vector<std::string>& positional() const { return positional_; }

 private:
  const std::vector<std::string>& args_;
  std::vector<std::pair<std::string, std::string>> values_;
  std::vector<std::string> positional_;
};

// Calls `probe` every kPollInterval until it returns true or `timeout` passes.
bool PollUntil(absl::Duration timeout, const std::function<bool()>& probe) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (probe()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(std::min(kPollInterval, deadline - absl::Now()));
  }
}

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

class Client {
 public:
  explicit Client(const Options& options)
      : options_(options),
        channel_(Channel(options.admin)),
        admin_(admin::Admin::NewStub(channel_)),
        health_(grpc::health::v1::Health::NewStub(channel_)) {}

  int Status(const SubFlags& flags) {
    admin::StatusResponse s;
    grpc::Status st = admin_->Status(Context(options_).get(), {}, &s);
    if (!st.ok()) return Failed("Status", st);
    auto field = flags.Get("field");
    if (!field) {
      std::cout << Json(s, false);
      return kExitOk;
    }
    nlohmann::json j = nlohmann::json::parse(Json(s, true), nullptr, false);
    if (!j.is_object() || !j.contains(*field)) {
      std::cerr << "sluicectl: Status has no field \"" << *field << "\"\n";
      return kExitUsage;
    }
    const nlohmann::json& v = j[*field];
    std::cout << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
    return kExitOk;
  }

  // The grpc.health.v1 status of `service`; nullopt if the call failed.
  std::optional<grpc::health::v1::HealthCheckResponse::ServingStatus> HealthOf(
      const std::string& service, grpc::Status* status) {
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse res;
    *status = health_->Check(Context(options_).get(), req, &res);
    if (!status->ok()) return std::nullopt;
    return res.status();
  }

  int Health(const SubFlags& flags) {
    const std::string service =
        flags.positional().empty() ? "sluice.Gateway" : flags.positional().front();
    grpc::Status st;
    auto status = HealthOf(service, &st);
    if (!status) return Failed("Health/Check", st);
    std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(*status) << "\n";
    return *status == grpc::health::v1::HealthCheckResponse::SERVING ? kExitOk : kExitFailed;
  }

  int Drain(const SubFlags& flags, absl::Duration timeout) {
    admin::DrainResponse d;
    grpc::Status st = admin_->Drain(Context(options_).get(), {}, &d);
    if (!st.ok()) return Failed("Drain", st);
    std::cout << Json(d, false);
    if (!flags.Get("wait-idle")) return kExitOk;
    std::string error;
    auto quiet = flags.Duration("wait-idle", absl::ZeroDuration(), &error);
    if (!quiet) return Usage(error);
    return WaitIdle(*quiet, timeout);
  }

  int Resume() {
    admin::ResumeResponse r;
    grpc::Status st = admin_->Resume(Context(options_).get(), {}, &r);
    if (!st.ok()) return Failed("Resume", st);
    std::cout << Json(r, false);
    return kExitOk;
  }

  int Reload(const SubFlags& flags, absl::Duration timeout) {
    admin::ReloadResponse r;
    grpc::Status st = admin_->Reload(Context(options_, timeout).get(), {}, &r);
    if (!st.ok()) return Failed("Reload", st);
    std::cout << Json(r, false);
    if (r.reload().result() == "failed") {
      std::cerr << "sluicectl: reload failed, " << r.live_config_sha256()
                << " still serving: " << r.reload().error() << "\n";
      return kExitFailed;
    }
    if (!flags.Has("wait")) return kExitOk;
    const std::string want = r.reload().config_sha256();
    bool live = PollUntil(timeout, [&] {
      admin::StatusResponse s;
      return admin_->Status(Context(options_).get(), {}, &s).ok() && s.config_sha256() == want;
    });
    if (!live) {
      std::cerr << "sluicectl: config sha256 " << want << " not live after "
                << absl::FormatDuration(timeout) << "\n";
      return kExitFailed;
    }
    return kExitOk;
  }

  int WaitReady(absl::Duration timeout) {
    grpc::Status last;
    bool ready = PollUntil(timeout, [&] {
      auto status = HealthOf("sluice.Gateway", &last);
      if (!status) Reconnect();
      return status == grpc::health::v1::HealthCheckResponse::SERVING;
    });
    if (!ready) {
      std::cerr << "sluicectl: " << options_.admin << " not ready after "
                << absl::FormatDuration(timeout) << (last.ok() ? "" : ": " + last.error_message())
                << "\n";
      return kExitFailed;
    }
    std::cout << "ready\n";
    return kExitOk;
  }

  // Idle: nothing in flight and the request counters unchanged for `quiet`. /__health probes are
  // not endpoints, so a load balancer's checks do not count as traffic.
  int WaitIdle(absl::Duration quiet, absl::Duration timeout) {
    uint64_t last_total = 0;
    int64_t last_in_flight = 0;
    std::optional<absl::Time> quiet_since;
    grpc::Status st;
    bool idle = PollUntil(timeout, [&] {
      admin::GetMetricsResponse m;
      st = admin_->GetMetrics(Context(options_).get(), {}, &m);
      if (!st.ok()) return false;
      uint64_t total = 0;
      int64_t in_flight = 0;
      for (const auto& e : m.endpoints()) {
        total += e.requests_total();
        in_flight += e.in_flight();
      }
      const absl::Time now = absl::Now();
      if (!quiet_since || total != last_total || in_flight != 0) quiet_since = now;
      last_total = total;
      last_in_flight = in_flight;
      return in_flight == 0 && now - *quiet_since >= quiet;
    });
    if (!idle) {
      std::cerr << "sluicectl: " << options_.admin << " not idle after "
                << absl::FormatDuration(timeout) << " (" << last_in_flight << " in flight"
                << (st.ok() ? "" : ", " + st.error_message()) << ")\n";
      return kExitFailed;
    }
    std::cout << "idle: " << last_total << " requests served, none for "
              << absl::FormatDuration(quiet) << "\n";
    return kExitOk;
  }

  // The endpoints' request counters, summed; nullopt if the call failed.
  std::optional<uint64_t> RequestsTotal(grpc::Status* status) {
    admin::GetMetricsResponse m;
    *status = admin_->GetMetrics(Context(options_).get(), {}, &m);
    if (!status->ok()) return std::nullopt;
    uint64_t total = 0;
    for (const auto& e : m.endpoints()) total += e.requests_total();
    return total;
  }

  int WaitTraffic(uint64_t min, absl::Duration timeout) {
    grpc::Status st;
    std::optional<uint64_t> first = RequestsTotal(&st);
    if (!first) return Failed("GetMetrics", st);
    uint64_t last = *first;
    bool seen = PollUntil(timeout, [&] {
      if (auto total = RequestsTotal(&st)) last = *total;
      return last - *first >= min;
    });
    if (!seen) {
      std::cerr << "sluicectl: " << options_.admin << " answered " << last - *first << " of " << min
                << " requests in " << absl::FormatDuration(timeout) << "\n";
      return kExitFailed;
    }
    std::cout << "traffic: " << last - *first << " new requests\n";
    return kExitOk;
  }

  int WaitGone(absl::Duration timeout) {
    bool gone = PollUntil(timeout, [&] {
      admin::StatusResponse s;
      grpc::Status st = admin_->Status(Context(options_).get(), {}, &s);
      return st.error_code() == grpc::StatusCode::UNAVAILABLE;
    });
    if (!gone) {
      std::cerr << "sluicectl: " << options_.admin << " still answers after "
                << absl::FormatDuration(timeout) << "\n";
      return kExitFailed;
    }
    std::cout << "gone\n";
    return kExitOk;
  }

 private:
  // A fresh channel connects at once; one whose connection attempt failed waits out gRPC's
  // reconnect backoff (1 s, growing), so wait-ready would notice a starting gateway seconds late.
  void Reconnect() {
    channel_ = Channel(options_.admin);
    admin_ = admin::Admin::NewStub(channel_);
    health_ = grpc::health::v1::Health::NewStub(channel_);
  }

  const Options& options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<admin::Admin::Stub> admin_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

std::optional<std::string> ReadToken(const std::string& env_name, const std::string& file,
                                     std::string* error) {
  if (!file.empty()) {
    std::ifstream in(file);
    std::stringstream buffer;
    buffer << in.rdbuf();
    if (!in) {
      *error = "cannot read token file " + file;
      return std::nullopt;
    }
    return std::string(absl::StripAsciiWhitespace(buffer.str()));
  }
  const char* value = std::getenv(env_name.c_str());
  return std::string(value ? value : "");
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  Options options;
  const char* env_admin = std::getenv("SLUICE_ADMIN_ADDRESS");
  options.admin = env_admin && *env_admin ? env_admin : kDefaultAdmin;
  std::string token_env = "SLUICE_ADMIN_TOKEN";
  std::string token_file;
  size_t i = 0;
  for (; i < args.size() && absl::StartsWith(args[i], "-"); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      std::cout << kHelp;
      return kExitOk;
    }
    if (i + 1 >= args.size()) return Usage("flag " + a + " needs a value");
    if (a == "--admin") {
      options.admin = args[++i];
    } else if (a == "--token-env") {
      token_env = args[++i];
    } else if (a == "--token-file") {
      token_file = args[++i];
    } else {
      return Usage("unknown flag " + a);
    }
  }
  if (i >= args.size()) return Usage("missing command");
  options.admin = ConnectAddress(options.admin);
  options.command = args[i];
  options.args.assign(args.begin() + i + 1, args.end());
  std::string error;
  auto token = ReadToken(token_env, token_file, &error);
  if (!token) return Usage(error);
  options.token = *token;

  SubFlags flags(options.args);
  std::vector<std::string> allowed;
  if (options.command == "status") allowed = {"field"};
  if (options.command == "drain") allowed = {"wait-idle", "timeout"};
  if (options.command == "reload") allowed = {"wait", "timeout"};
  if (options.command == "wait-ready" || options.command == "wait-gone") allowed = {"timeout"};
  if (options.command == "wait-idle") allowed = {"quiet", "timeout"};
  if (options.command == "wait-traffic") allowed = {"min", "timeout"};
  if (!flags.Parse(allowed, &error)) return Usage(error);
  if (options.command != "health" && !flags.positional().empty()) {
    return Usage("unexpected argument \"" + flags.positional().front() + "\"");
  }
  auto timeout = flags.Duration("timeout", absl::Seconds(30), &error);
  if (!timeout) return Usage(error);

  Client client(options);
  if (options.command == "status") return client.Status(flags);
  if (options.command == "health") return client.Health(flags);
  if (options.command == "drain") return client.Drain(flags, *timeout);
  if (options.command == "resume") return client.Resume();
  if (options.command == "reload") return client.Reload(flags, *timeout);
  if (options.command == "wait-ready") return client.WaitReady(*timeout);
  if (options.command == "wait-gone") return client.WaitGone(*timeout);
  if (options.command == "wait-traffic") {
    uint64_t min = 1;
    if (auto v = flags.Get("min"); v && (!absl::SimpleAtoi(*v, &min) || min == 0)) {
      return Usage("--min: expected a positive integer, got \"" + *v + "\"");
    }
    return client.WaitTraffic(min, *timeout);
  }
  if (options.command == "wait-idle") {
    auto quiet = flags.Duration("quiet", absl::Seconds(2), &error);
    if (!quiet) return Usage(error);
    return client.WaitIdle(*quiet, *timeout);
  }
  return Usage("unknown command \"" + options.command + "\"");
}

}  // namespace
}  // namespace sluice::ctl

int main(int argc, char** argv) { return sluice::ctl::Main(argc, argv); }
