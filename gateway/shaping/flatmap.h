#pragma once

// KrakenD's `extra_config.proxy.flatmap_filter`: an ordered list of edits on a decoded response,
// addressed by dot paths that may step into arrays. Built once from config, applied per request.
//
//   {"type": "move",   "args": ["a.b", "c"]}         take a.b out and put it at c (rename/move)
//   {"type": "del",    "args": ["a.b", "x.*.y"]}     delete every listed path
//   {"type": "append", "args": ["src", "dst"]}       take src out and concatenate it onto dst
//
// Path segments: an object key; a non-negative integer, which indexes an array (on an object it
// is a plain key); `*`, which matches every element of an array and every member of an object.
// `move`/`append` with wildcards pair them positionally: the i-th `*` of the destination takes
// the index or key the i-th `*` of the source matched ("items.*.price" -> "items.*.cost" renames
// inside every element), so both paths must hold the same number of `*`.
//
// Where Lura's flatmap (github.com/krakendio/flatmap tree, used by proxy/formatter.go) is not
// documented we chose, deliberately:
// - A path that does not match is a no-op; nothing fails at request time.
// - Invalid ops (unknown type, wrong argument count, non-string args, mismatched wildcards) fail
//   Create, i.e. start-up. Lura skips malformed ops silently.
// - `append` removes the source (it is a move that concatenates). A non-array source is appended
//   as one element; a missing destination becomes an array; a non-array destination becomes the
//   first element of a new array (nothing is lost).
// - `del` of `a.*` empties the array/object at `a` but keeps it.
// - Writing through a path creates missing containers: an array where the segment is an index
//   bound by a source `*` over an array, an object otherwise. A scalar in the way, or an array
//   addressed by a non-numeric key, is replaced. An index past the end of an existing array
//   appends (no null padding, so a config index cannot allocate unbounded memory).

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace sluice::shaping {

// Splits "a.b.c" into {"a", "b", "c"}. An empty path or an empty segment ("a..b", ".a", "a.")
// is InvalidArgument: KrakenD would silently look up an empty key that never matches.
absl::StatusOr<std::vector<std::string>> ParseDotPath(std::string_view path);

class FlatmapFilter {
 public:
  // `ops` is the JSON array found at extra_config.proxy.flatmap_filter.
  static absl::StatusOr<FlatmapFilter> Create(const nlohmann::json& ops);

  // Applies every op in order. Never fails and never throws; see the header comment for what a
  // non-matching path does.
  void Apply(nlohmann::json& value) const;

  bool empty() const { return ops_.empty(); }

 private:
  enum class OpType { kMove, kDel, kAppend };
  using Path = std::vector<std::string>;  // "*" is the wildcard
  struct Op {
    OpType type;
    std::vector<Path> args;
  };

  std::vector<Op> ops_;
};

}  // namespace sluice::shaping
