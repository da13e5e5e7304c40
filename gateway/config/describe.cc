// How a loaded config is shown: diagnostics as "FILE: PATH: MESSAGE", and the summary of
// `sluice check -d`.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gateway/config/addresses.h"
#include "gateway/config/config.h"
#include "gateway/config/text.h"

namespace sluice::config {

std::string FormatDiagnostic(std::string_view file_path, const Diagnostic& d) {
  absl::string_view file = View(file_path);
  if (d.path.empty()) return absl::StrCat(file, ": ", d.message);
  return absl::StrCat(file, ": ", d.path, ": ", d.message);
}

std::string Describe(const ServiceConfig& c) {
  auto fmt = [](absl::Duration d) { return absl::FormatDuration(d); };
  std::string out;
  absl::StrAppend(&out, "name: ", c.name.empty() ? "(none)" : c.name, "\n");
  absl::StrAppend(&out, "version: ", c.version, "\n");
  if (!c.file_path.empty()) {
    absl::StrAppend(&out, "file: ", c.file_path, " (sha256 ", c.sha256_hex, ")\n");
  }
  absl::StrAppend(&out, "port: ", c.port, "  listen_ip: ", c.listen_ip.empty() ? "*" : c.listen_ip,
                  "\n");
  absl::StrAppend(&out, "timeout: ", fmt(c.timeout), "  cache_ttl: ", fmt(c.cache_ttl),
                  "  output: ", View(ToString(c.output_encoding)), "\n");
  absl::StrAppend(&out, "server: read_timeout=", fmt(c.read_timeout),
                  " write_timeout=", fmt(c.write_timeout), " idle_timeout=", fmt(c.idle_timeout),
                  " read_header_timeout=", fmt(c.read_header_timeout),
                  " max_header_bytes=", c.max_header_bytes,
                  " max_shutdown_wait_time=", fmt(c.max_shutdown_wait_time), "\n");
  absl::StrAppend(&out,
                  "http: workers=", c.tuning.workers == 0 ? "auto" : absl::StrCat(c.tuning.workers),
                  " max_body_bytes=", c.tuning.max_body_bytes, "\n");
  absl::StrAppend(&out, "logging: level=", c.logging.level,
                  " access_log=", c.logging.access_log ? "on" : "off", "\n");
  absl::StrAppend(&out, "debug_endpoint: ", c.debug_endpoint ? "on" : "off", "\n");
  absl::StrAppend(&out, "use_h2c: ", c.use_h2c ? "on (HTTP/1.1 and cleartext HTTP/2)" : "off",
                  "\n");
  std::string token;
  if (!c.admin.token_env.empty()) token = absl::StrCat("env ", c.admin.token_env);
  if (!c.admin.token_file.empty()) {
    absl::StrAppend(&token, token.empty() ? "" : " or ", "file ", c.admin.token_file);
  }
  if (token.empty()) token = "none";
  absl::StrAppend(&out, "admin: grpc=", c.admin.address.ToString(),
                  " metrics=", c.admin.metrics_address.ToString(), " token=", token,
                  c.admin.require_token_for_all ? " (required for all calls)" : "", "\n");
  std::vector<std::string> hosts;
  for (const HostAddress& h : c.host) hosts.push_back(HostUrl(h));
  absl::StrAppend(&out, "host: ", hosts.empty() ? "(none)" : absl::StrJoin(hosts, ", "), "\n");
  absl::StrAppend(&out, "endpoints: ", c.endpoints.size(), "\n");
  for (const Endpoint& e : c.endpoints) {
    absl::StrAppend(&out, e.method, " ", e.path, "  timeout=", fmt(e.timeout),
                    "  output=", View(ToString(e.output_encoding)));
    if (e.cache_ttl > absl::ZeroDuration()) absl::StrAppend(&out, "  cache_ttl=", fmt(e.cache_ttl));
    if (e.concurrent_calls > 1) absl::StrAppend(&out, "  concurrent_calls=", e.concurrent_calls);
    absl::StrAppend(&out, "\n");
    for (const Backend& b : e.backends) {
      std::string host = b.hosts.empty() ? "" : HostUrl(b.hosts.front());
      if (b.extra_config.contains("backend/grpc")) {
        // A gRPC method: no HTTP method, scheme or encoding applies.
        host = b.hosts.empty() ? "" : absl::StrCat(b.hosts.front().host, ":", b.hosts.front().port);
        absl::StrAppend(&out, "  -> gRPC ", host, b.url_pattern);
      } else {
        absl::StrAppend(&out, "  -> ", b.method, " ", host, b.url_pattern, " (encoding ",
                        View(ToString(b.encoding)), ")");
      }
      if (b.hosts.size() > 1) absl::StrAppend(&out, " +", b.hosts.size() - 1, " more hosts");
      absl::StrAppend(&out, "\n");
    }
  }
  return out;
}

}  // namespace sluice::config
