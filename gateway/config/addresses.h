#pragma once

// Addresses in a config file: backend hosts (KrakenD's host sanitiser rules), listen addresses
// (the admin plane's) and ports.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "gateway/config/config.h"

namespace sluice::config {

// Digits only, 1..65535.
std::optional<uint16_t> ParsePort(absl::string_view s);
// Accepts what KrakenD's host sanitiser accepts: `(http|https)://`? name-or-IP (`:port`)?, with
// IPv6 literals in brackets. Sets `why` and returns false otherwise.
bool ParseHost(absl::string_view text, HostAddress* out, std::string* why);
// "IP:PORT", "[IPv6]:PORT", "localhost:PORT" or ":PORT" (all interfaces). Port 0 asks the kernel
// for a free one. Sets `why` and returns false otherwise.
bool ParseListenAddress(absl::string_view text, ListenAddress* out, std::string* why);
// Whether two listeners would bind the same port on the same address (port 0 never clashes).
bool SameListener(const ListenAddress& a, const ListenAddress& b);
// "scheme://host:port", IPv6 hosts in brackets.
std::string HostUrl(const HostAddress& h);

}  // namespace sluice::config
