#include "gateway/components/security/cors/config.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"

namespace sluice::components::cors {

namespace {

// Go's textproto.CanonicalMIMEHeaderKey: "x-foo-bar" -> "X-Foo-Bar".
std::string Canonical(std::string_view name) {
  std::string out(name);
  bool upper = true;
  for (char& c : out) {
    c = upper ? absl::ascii_toupper(c) : absl::ascii_tolower(c);
    upper = c == '-';
  }
  return out;
}

}  // namespace

std::shared_ptr<const Config> Parse(config::ObjectReader& reader) {
  reader.CheckKeys({"allow_origins", "allow_methods", "allow_headers", "expose_headers", "max_age",
                    "allow_credentials", "options_passthrough", "options_success_status",
                    "allow_private_network", "debug"});
  auto config = std::make_shared<Config>();
  std::vector<std::string> origins = reader.Strings("allow_origins").value_or(
      std::vector<std::string>{});
  config->allow_all_origins = origins.empty();
  for (std::string& o : origins) {
    absl::AsciiStrToLower(&o);
    if (o == "*") {
      config->allow_all_origins = true;
      continue;
    }
    const size_t star = o.find('*');
    if (star == std::string::npos) {
      config->origins.push_back(o);
    } else if (o.find('*', star + 1) != std::string::npos) {
      reader.Error("allow_origins", "an origin holds at most one '*': \"" + o + "\"");
    } else {
      config->wildcards.push_back({o.substr(0, star), o.substr(star + 1)});
    }
  }
  if (config->allow_all_origins) {
    config->origins.clear();
    config->wildcards.clear();
  }
  config->methods = reader.Strings("allow_methods")
                        .value_or(std::vector<std::string>{"GET", "POST", "HEAD"});
  if (config->methods.empty()) config->methods = {"GET", "POST", "HEAD"};
  for (std::string& m : config->methods) absl::AsciiStrToUpper(&m);
  std::vector<std::string> headers =
      reader.Strings("allow_headers").value_or(std::vector<std::string>{});
  config->allow_all_headers = headers.empty();
  for (std::string& h : headers) {
    if (h == "*") config->allow_all_headers = true;
    config->headers.push_back(absl::AsciiStrToLower(h));
  }
  if (config->allow_all_headers) {
    config->headers.clear();
  } else {
    config->headers.push_back("origin");  // as rs/cors: Origin is always allowed
  }
  if (auto exposed = reader.Strings("expose_headers")) {
    for (std::string& h : *exposed) h = Canonical(h);
    config->expose_headers = absl::StrJoin(*exposed, ", ");
  }
  if (auto v = reader.Duration("max_age")) config->max_age = *v;
  if (auto v = reader.Bool("allow_credentials")) config->allow_credentials = *v;
  if (auto v = reader.Bool("options_passthrough")) config->options_passthrough = *v;
  if (auto v = reader.Int("options_success_status", 200, 299)) {
    config->options_success_status = static_cast<int>(*v);
  }
  if (auto v = reader.Bool("allow_private_network")) config->allow_private_network = *v;
  if (auto v = reader.Bool("debug")) config->debug = *v;
  if (config->allow_credentials && config->allow_all_origins) {
    reader.Warn("allow_credentials",
                "warning: with every origin allowed the gateway answers "
                "Access-Control-Allow-Origin: * (as KrakenD), which browsers refuse for "
                "credentialed requests; list the origins instead");
  }
  return config;
}

}  // namespace sluice::components::cors
