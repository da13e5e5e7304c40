#pragma once

// Per-backend response shaping, KrakenD's `entityFormatter` (lura proxy/formatter.go). Built once
// per backend at start-up; Apply runs on every decoded backend response before the merge.
//
// Order, as Lura:  target -> allow | deny -> mapping -> group
// With a non-empty extra_config.proxy.flatmap_filter, as Lura's flatmapFormatter:
//                  target -> flatmap_filter -> group      (allow, deny and mapping are ignored)
//
// - target: dot path to a nested object that replaces the whole response. A missing segment or a
//   non-object value (an array, a scalar) gives {} (Lura's extractTarget).
// - allow: keep only the listed dot paths. A path into an object keeps the object with only the
//   listed members; an object left with no member is dropped; a path through a non-object drops
//   that member. Paths never step into arrays.
// - deny: remove the listed dot paths; an object emptied by it stays (as {}), as in Lura.
//   allow and deny together: allow wins and deny is ignored (Lura: `if len(AllowList) > 0`).
// - mapping: rename top-level keys. A renamed key overwrites an existing one of the new name.
// - group: wrap the result under this key (also when it is empty).
// - is_collection: the decoder already produced {"collection": [...]}, so paths start there
//   ("collection" is what mapping/group usually rename).
//
// Deliberate differences from Lura, where its result depends on Go's random map order:
// - Listing both "a" and "a.b" in allow or deny: the broader path wins ("a" whole), whatever
//   the order. Lura lets the later entry win in allow, and the nested one in deny.
// - mapping renames simultaneously, so {"a":"b","b":"a"} swaps and chains do not cascade; if
//   two keys map to one name, the one whose original name sorts last wins.
// - As Lura, a mapping target is cut at its first dot ({"a": "b.c"} renames a to "b").

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/config/config.h"
#include "gateway/shaping/flatmap.h"
#include "nlohmann/json.hpp"

namespace sluice::shaping {

class BackendShaper {
 public:
  // Compiles the backend's target, allow, deny, mapping, group and
  // extra_config.proxy.flatmap_filter. Malformed paths or flatmap ops are InvalidArgument with
  // the backend's json_path in the message.
  static absl::StatusOr<BackendShaper> Create(const config::Backend& backend);

  // Shapes one decoded response in place. Never fails and never throws.
  void Apply(nlohmann::json& value) const;

  // True when Apply would change nothing, so the pipeline can leave the stage out.
  bool is_identity() const;
  // The group name when wrapping under it is all Apply does (no target, allow, deny, mapping or
  // flatmap), else nullptr.
  const std::string* group_only() const;

 private:
  // A set of dot paths as a tree. `whole` marks a listed path: the node's value is kept (allow)
  // or removed (deny) entirely, and `children` is then empty.
  struct FieldTree {
    bool whole = false;
    std::vector<std::string> names;  // sorted; names[i] leads to children[i]
    std::vector<FieldTree> children;

    void Insert(const std::vector<std::string>& path);
  };

  static void Keep(nlohmann::json& object, const FieldTree& tree);
  static void Remove(nlohmann::json& object, const FieldTree& tree);

  std::vector<std::string> target_;
  std::optional<FieldTree> allow_;
  std::optional<FieldTree> deny_;
  std::vector<std::pair<std::string, std::string>> mapping_;  // sorted by original name
  std::optional<FlatmapFilter> flatmap_;
  std::optional<std::string> group_;
};

}  // namespace sluice::shaping
