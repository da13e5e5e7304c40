#pragma once

// SLUICE_* environment overrides (SLUICE_NAME, SLUICE_PORT, SLUICE_TIMEOUT, SLUICE_ADMIN_ADDRESS,
// SLUICE_METRICS_ADDRESS), applied to the parsed JSON before the config is read from it.

#include <vector>

#include "gateway/config/config.h"
#include "nlohmann/json.hpp"

namespace sluice::config {

// Writes valid SLUICE_* overrides into the top-level object, so inheritance (endpoint timeouts)
// and the `effective` rendering both see them; invalid ones go to `errors`. Empty variables
// count as unset.
void ApplyEnv(EnvLookup env, nlohmann::json* root, std::vector<Diagnostic>* errors);

}  // namespace sluice::config
