#pragma once

#include <string_view>

namespace sluice::version {

// Semantic version of this Sluice build.
std::string_view Version();

// Short git revision the binary was built from ("unknown" outside git, "-dirty" suffix when the
// work tree had uncommitted changes). Stamped by Bazel's workspace status.
std::string_view GitRevision();

// "Sluice Version 0.1.0": sent as User-Agent to backends, as KrakenD sends "KrakenD Version x".
std::string_view UserAgent();

}  // namespace sluice::version
