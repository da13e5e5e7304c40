#include "gateway/shaping/shaping.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "gateway/components/proxy/config.h"

namespace sluice::shaping {
namespace {

using Json = nlohmann::json;

absl::Status Located(const config::Backend& backend, std::string_view key,
                     const absl::Status& status) {
  return absl::InvalidArgumentError(
      absl::StrCat(backend.json_path, ".", std::string(key), ": ", std::string(status.message())));
}

}  // namespace

void BackendShaper::FieldTree::Insert(const std::vector<std::string>& path) {
  FieldTree* node = this;
  for (const std::string& name : path) {
    if (node->whole) return;  // a broader path already covers this one
    auto it = std::lower_bound(node->names.begin(), node->names.end(), name);
    const auto i = static_cast<size_t>(it - node->names.begin());
    if (it == node->names.end() || *it != name) {
      node->names.insert(it, name);
      node->children.insert(node->children.begin() + static_cast<std::ptrdiff_t>(i), FieldTree{});
    }
    node = &node->children[i];
  }
  node->whole = true;
  node->names.clear();
  node->children.clear();
}

absl::StatusOr<BackendShaper> BackendShaper::Create(const config::Backend& backend) {
  BackendShaper shaper;
  if (!backend.target.empty()) {
    absl::StatusOr<std::vector<std::string>> path = ParseDotPath(backend.target);
    if (!path.ok()) return Located(backend, "target", path.status());
    shaper.target_ = *std::move(path);
  }
  if (!backend.group.empty()) shaper.group_ = backend.group;

  // Parsed at load by the proxy component; Lura: an empty op list means no flatmap formatter,
  // so the basic one applies (the component leaves `flatmap` unset then).
  const auto* proxy =
      backend.components.Get<components::proxy::BackendConfig>(components::proxy::kNamespace);
  if (proxy != nullptr && proxy->flatmap) {
    shaper.flatmap_ = *proxy->flatmap;
    return shaper;  // Lura ignores allow, deny and mapping next to a flatmap_filter
  }

  // Lura: `if len(remote.AllowList) > 0 { allow } else { deny }`.
  const std::vector<std::string>& fields = backend.allow.empty() ? backend.deny : backend.allow;
  const char* key = backend.allow.empty() ? "deny" : "allow";
  if (!fields.empty()) {
    FieldTree tree;
    for (const std::string& field : fields) {
      absl::StatusOr<std::vector<std::string>> path = ParseDotPath(field);
      if (!path.ok()) return Located(backend, key, path.status());
      tree.Insert(*path);
    }
    (backend.allow.empty() ? shaper.deny_ : shaper.allow_) = std::move(tree);
  }

  for (const auto& [from, to] : backend.mapping) {
    // Lura's sanitizedMappings keeps what precedes the first dot of the new name.
    shaper.mapping_.emplace_back(from, to.substr(0, to.find('.')));
  }
  return shaper;
}

bool BackendShaper::is_identity() const {
  return target_.empty() && !allow_ && !deny_ && mapping_.empty() && !flatmap_ && !group_;
}

const std::string* BackendShaper::group_only() const {
  if (!group_ || !target_.empty() || allow_ || deny_ || !mapping_.empty() || flatmap_) {
    return nullptr;
  }
  return &*group_;
}

void BackendShaper::Keep(Json& object, const FieldTree& tree) {
  // In place, walking the object's keys and the sorted names together: both are in std::string
  // order, so this is one linear pass that frees what goes and never copies what stays.
  size_t i = 0;
  for (auto it = object.begin(); it != object.end();) {
    while (i < tree.names.size() && tree.names[i] < it.key()) ++i;
    if (i < tree.names.size() && tree.names[i] == it.key()) {
      const FieldTree& child = tree.children[i];
      if (child.whole) {
        ++it;
        continue;
      }
      if (it->is_object()) {
        Keep(it.value(), child);
        if (!it->empty()) {
          ++it;
          continue;
        }
      }
    }
    it = object.erase(it);
  }
}

void BackendShaper::Remove(Json& object, const FieldTree& tree) {
  for (size_t i = 0; i < tree.names.size(); ++i) {
    auto it = object.find(tree.names[i]);
    if (it == object.end()) continue;
    const FieldTree& child = tree.children[i];
    if (child.whole) {
      object.erase(it);
    } else if (it->is_object()) {
      Remove(it.value(), child);
    }
  }
}

void BackendShaper::Apply(Json& value) const {
  if (!target_.empty()) {
    Json* node = &value;
    for (const std::string& name : target_) {
      auto it = node->is_object() ? node->find(name) : node->end();
      if (it == node->end() || !it->is_object()) {
        node = nullptr;
        break;
      }
      node = &it.value();
    }
    // Move out through a temporary: `node` points into `value`.
    Json extracted = node != nullptr ? std::move(*node) : Json::object();
    value = std::move(extracted);
  }

  if (flatmap_) {
    flatmap_->Apply(value);
  } else if (value.is_object()) {
    if (allow_) {
      Keep(value, *allow_);
    } else if (deny_) {
      Remove(value, *deny_);
    }
    if (!mapping_.empty()) {
      std::vector<std::pair<const std::string*, Json>> renamed;
      for (const auto& [from, to] : mapping_) {
        auto it = value.find(from);
        if (it == value.end()) continue;
        renamed.emplace_back(&to, std::move(it.value()));
        value.erase(it);
      }
      for (auto& [to, v] : renamed) value[*to] = std::move(v);
    }
  }

  if (group_) {
    Json wrapped = Json::object();
    wrapped[*group_] = std::move(value);
    value = std::move(wrapped);
  }
}

}  // namespace sluice::shaping
