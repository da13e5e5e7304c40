#pragma once

// JSON decoding of backend bodies and JSON rendering of endpoint answers.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace sluice::encoding {

inline constexpr std::string_view kJsonContentType = "application/json; charset=utf-8";

// Deepest array/object nesting a backend body may have. nlohmann's copy, dump and destruction
// recurse per level (its parser keeps its own stack) and a 10 MiB body of '[' overflows an 8 MiB
// stack (about 100k levels), so bodies are bounded far below that. Real APIs nest < 50 levels; Go's
// encoding/json (KrakenD) stops at 10000.
inline constexpr int kMaxJsonDepth = 1000;

// Parses any JSON value (object, array or scalar), depth-limited by kMaxJsonDepth in the same
// pass (parsing stops at the first level over it). Never throws.
absl::StatusOr<nlohmann::json> ParseJson(std::string_view body);

// Values (every object, array, string, number, bool and null) a client's request body may hold.
// A parsed value costs 16 bytes plus its own storage, so 10 MiB of "[],[]..." would expand to
// ~300 MB; a million values (16-80 MB) is far beyond any real request and bounds that expansion.
inline constexpr size_t kMaxClientJsonValues = 1'000'000;

// The one entry point for JSON that a CLIENT sent (request bodies): any JSON value, at most
// kMaxJsonDepth deep and kMaxClientJsonValues values, checked while parsing (one pass; parsing
// stops at the first value over a limit). InvalidArgument says which limit or where the syntax
// broke. Never throws.
absl::StatusOr<nlohmann::json> ParseClientJson(std::string_view body,
                                               size_t max_values = kMaxClientJsonValues);

// Decodes a backend body with the `json` encoding: the body must be a JSON object, or, with
// `is_collection`, an array that becomes {"collection": [...]}. Never throws.
absl::StatusOr<nlohmann::json> DecodeJson(std::string_view body, bool is_collection);

// Renders compactly with keys sorted (nlohmann objects are ordered maps). Invalid UTF-8 in
// strings is replaced rather than failing the response.
std::string RenderJson(const nlohmann::json& value);

// RenderJson(*DecodeJson(body, false)) in one pass over the bytes, without building the tree:
// the fast path for an answer nothing shapes. Writes the rendering to `out` and returns true, or
// returns false for a body it leaves to the tree (which then decides: an error or the same
// output): anything invalid, not an object, duplicate keys, nesting deeper than 64 levels,
// numbers out of a double's range, bodies over 1 MiB. Never throws.
bool RenderJsonObjectDirect(std::string_view body, std::string* out);

// What the tree's merge of several objects renders (each object's members, a key in several
// taken from the last object that has it, keys sorted), for objects RenderJsonObjectDirect (or
// WrapRenderedObject) rendered: it relies on their form and checks nothing.
std::string MergeRenderedObjects(const std::vector<std::string_view>& objects);

// `s` (valid UTF-8) as a JSON string, the way RenderJson writes strings: quoted, with `"`, `\`
// and the control characters escaped, everything else as it is.
void AppendJsonString(std::string_view s, std::string* out);

// `{"<key>":<rendered>}`: an object RenderJsonObjectDirect rendered, wrapped under `key` (valid
// UTF-8) as a backend's `group` wraps it.
std::string WrapRenderedObject(std::string_view key, std::string_view rendered);

}  // namespace sluice::encoding
