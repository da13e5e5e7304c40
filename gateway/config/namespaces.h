#pragma once

// The one table of KrakenD's extra_config namespaces: their KrakenD 2.x (format 3) names, the
// KrakenD 1.x (format 2) names that map to them, and whether each restricts traffic. Which of
// them Sluice implements is the component registry's business (gateway/components/registry.h).

#include <string>
#include <string_view>

namespace sluice::config {

// The v3 name of a namespace key as written: v1/v2 names (`github.com/...`, `github_com/...`)
// are renamed; any other key is returned unchanged.
std::string CanonicalNamespace(std::string_view key);

// Whether KrakenD's component for `name` (a v3 name) restricts who may call or how much
// (authentication, CORS, rate limits, bot detection, request validation): a file relying on one
// that Sluice does not implement runs unprotected.
bool IsProtective(std::string_view name);

// Whether `name` (a v3 name) is a namespace KrakenD documents (or Sluice's own, `sluice/...`).
bool IsKnownNamespace(std::string_view name);

}  // namespace sluice::config
