#pragma once

// JSON -> YAML for the `yaml` output encoding (and `negotiate` with a YAML/plain-text Accept).
//
// Block style, two-space indentation, keys in sorted order (nlohmann objects are ordered), so
// the output is deterministic and diffable:
//   {"a": {"b": [1, "x"]}, "c": null}  ->  "a:\n  b:\n    - 1\n    - x\nc: null\n"
// - Strings are written plain only when no YAML 1.1 or 1.2 parser could read them as anything
//   else: ASCII letters, digits, space and `_-./()+`, starting with a letter, '_' or '/', not
//   ending in a space, and not a null/boolean word (null, true, yes, on, y, ... in any case).
//   Everything else ("123", "true", "", "-x", "a: b", "café") is double-quoted with escapes
//   (\" \\ \n \t \r \0 \xHH \N \L \P \uXXXX); invalid UTF-8 becomes \uFFFD.
// - Keys follow the same rule; a key longer than 1024 bytes uses the explicit "? key" form,
//   since YAML limits implicit keys to 1024 characters.
// - Floats always carry a '.' ("1.0e+300"), which YAML 1.1 needs to read them as floats.
// - Empty objects and arrays are {} and [].
// KrakenD renders YAML with go-yaml through gin; the text is equivalent YAML, not byte-identical
// (go-yaml v3 indents by four and picks quote styles differently).

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace sluice::encoding {

inline constexpr std::string_view kYamlContentType = "application/yaml; charset=utf-8";

// Deepest JSON value rendered; beyond it the value is refused instead of risking the stack (one
// frame per level). Decoded bodies stay below it: kMaxJsonDepth (1000) plus shaping headroom.
inline constexpr int kMaxYamlRenderDepth = 1100;

// Renders `value` as a YAML document ending in a newline. InvalidArgument only when nesting
// exceeds kMaxYamlRenderDepth.
absl::StatusOr<std::string> RenderYaml(const nlohmann::json& value);

}  // namespace sluice::encoding
