#include "gateway/shaping/flatmap.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/common/strings.h"

namespace sluice::shaping {
namespace {

using Json = nlohmann::json;
constexpr std::string_view kWildcard = "*";

// What a `*` matched: an array index or an object key.
struct Binding {
  std::string key;
  bool is_index = false;
};

// One segment of a destination path after wildcard substitution.
struct Step {
  std::string key;
  bool is_index = false;  // bound by a `*` that matched an array element
};

// Array indexes are plain decimal numbers; 9 digits keep the value in range without overflow.
bool AsIndex(std::string_view s, size_t* out) {
  uint32_t v = 0;
  if (!ParseUint(s, &v)) return false;
  *out = v;
  return true;
}

// The child of `node` named by a literal (non-wildcard) segment, or nullptr.
Json* Child(Json& node, const std::string& segment) {
  if (node.is_array()) {
    size_t i = 0;
    if (!AsIndex(segment, &i) || i >= node.size()) return nullptr;
    return &node[i];
  }
  if (node.is_object()) {
    auto it = node.find(segment);
    return it == node.end() ? nullptr : &it.value();
  }
  return nullptr;
}

using Visitor = std::function<void(Json&, const std::vector<Binding>&)>;

// Calls `visit` for every value the path matches, in document order (arrays by index, objects
// by key), with what each `*` matched.
void Enumerate(Json& node, const std::vector<std::string>& path, size_t i,
               std::vector<Binding>& bound, const Visitor& visit) {
  if (i == path.size()) {
    visit(node, bound);
    return;
  }
  const std::string& segment = path[i];
  if (segment == kWildcard) {
    if (node.is_array()) {
      for (size_t k = 0; k < node.size(); ++k) {
        bound.push_back({std::to_string(k), true});
        Enumerate(node[k], path, i + 1, bound, visit);
        bound.pop_back();
      }
    } else if (node.is_object()) {
      for (auto it = node.begin(); it != node.end(); ++it) {
        bound.push_back({it.key(), false});
        Enumerate(it.value(), path, i + 1, bound, visit);
        bound.pop_back();
      }
    }
    return;
  }
  if (Json* child = Child(node, segment)) Enumerate(*child, path, i + 1, bound, visit);
}

// Removes every value the path matches. Only the last segment erases, once per container, so
// array indexes never shift under an erase in progress.
void Delete(Json& node, const std::vector<std::string>& path, size_t i) {
  const std::string& segment = path[i];
  if (i + 1 == path.size()) {
    if (segment == kWildcard) {
      if (node.is_array() || node.is_object()) node.clear();
    } else if (node.is_array()) {
      size_t k = 0;
      if (AsIndex(segment, &k) && k < node.size()) node.erase(k);
    } else if (node.is_object()) {
      node.erase(segment);
    }
    return;
  }
  if (segment == kWildcard) {
    if (node.is_array() || node.is_object()) {
      for (auto& child : node) Delete(child, path, i + 1);
    }
    return;
  }
  if (Json* child = Child(node, segment)) Delete(*child, path, i + 1);
}

std::vector<Step> Substitute(const std::vector<std::string>& path,
                             const std::vector<Binding>& bound) {
  std::vector<Step> steps;
  steps.reserve(path.size());
  size_t next = 0;
  for (const std::string& segment : path) {
    if (segment == kWildcard && next < bound.size()) {
      steps.push_back({bound[next].key, bound[next].is_index});
      ++next;
    } else {
      steps.push_back({segment, false});
    }
  }
  return steps;
}

// The slot at `steps`, creating containers on the way (see the header for the rules).
Json& Slot(Json& root, const std::vector<Step>& steps) {
  Json* cur = &root;
  for (const Step& step : steps) {
    size_t index = 0;
    const bool numeric = AsIndex(step.key, &index);
    if (!cur->is_array() && !cur->is_object()) {
      *cur = step.is_index ? Json::array() : Json::object();
    }
    if (cur->is_array()) {
      if (numeric) {
        if (index >= cur->size()) {
          cur->push_back(nullptr);
          index = cur->size() - 1;
        }
        cur = &(*cur)[index];
        continue;
      }
      // A key on an array: the array is in the way, as a scalar would be.
      *cur = Json::object();
    }
    cur = &(*cur)[step.key];
  }
  return *cur;
}

void AppendInto(Json& slot, Json value) {
  if (slot.is_null()) {
    slot = Json::array();
  } else if (!slot.is_array()) {
    Json first = std::move(slot);
    slot = Json::array();
    slot.push_back(std::move(first));
  }
  if (value.is_array()) {
    for (Json& element : value) slot.push_back(std::move(element));
  } else {
    slot.push_back(std::move(value));
  }
}

void Transfer(Json& root, const std::vector<std::string>& from, const std::vector<std::string>& to,
              bool append) {
  // Take the values out first, then drop their places, then write: a destination inside the
  // source ("a" -> "a.b") or the other way round sees a consistent tree.
  std::vector<std::pair<std::vector<Binding>, Json>> taken;
  std::vector<Binding> bound;
  Enumerate(root, from, 0, bound, [&taken](Json& value, const std::vector<Binding>& b) {
    taken.emplace_back(b, std::move(value));
  });
  if (taken.empty()) return;
  Delete(root, from, 0);
  for (auto& [b, value] : taken) {
    Json& slot = Slot(root, Substitute(to, b));
    if (append) {
      AppendInto(slot, std::move(value));
    } else {
      slot = std::move(value);
    }
  }
}

size_t Wildcards(const std::vector<std::string>& path) {
  return static_cast<size_t>(std::count(path.begin(), path.end(), std::string(kWildcard)));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseDotPath(std::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError("empty path");
  std::vector<std::string> segments;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string_view segment =
        path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (segment.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("path \"", std::string(path), "\" has an empty segment"));
    }
    segments.emplace_back(segment);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return segments;
}

absl::StatusOr<FlatmapFilter> FlatmapFilter::Create(const nlohmann::json& ops) {
  if (!ops.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("flatmap_filter must be an array, got ", ops.type_name()));
  }
  FlatmapFilter filter;
  for (size_t i = 0; i < ops.size(); ++i) {
    const Json& op = ops[i];
    const std::string where = absl::StrCat("flatmap_filter[", i, "]");
    if (!op.is_object()) return absl::InvalidArgumentError(where + " must be an object");
    auto type = op.find("type");
    if (type == op.end() || !type->is_string()) {
      return absl::InvalidArgumentError(where + ".type must be a string");
    }
    Op compiled;
    const std::string& name = type->get_ref<const std::string&>();
    if (name == "move") {
      compiled.type = OpType::kMove;
    } else if (name == "del") {
      compiled.type = OpType::kDel;
    } else if (name == "append") {
      compiled.type = OpType::kAppend;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".type \"", name, "\" is not one of move, del, append"));
    }
    auto args = op.find("args");
    if (args == op.end() || !args->is_array()) {
      return absl::InvalidArgumentError(where + ".args must be an array of paths");
    }
    for (const Json& arg : *args) {
      if (!arg.is_string()) {
        return absl::InvalidArgumentError(where + ".args must contain only strings");
      }
      absl::StatusOr<Path> path = ParseDotPath(arg.get_ref<const std::string&>());
      if (!path.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".args: ", std::string(path.status().message())));
      }
      compiled.args.push_back(*std::move(path));
    }
    if (compiled.type == OpType::kDel) {
      if (compiled.args.empty()) {
        return absl::InvalidArgumentError(where + " (del) needs at least one path");
      }
    } else {
      if (compiled.args.size() != 2) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, " (", name, ") needs exactly 2 paths [from, to], got ", compiled.args.size()));
      }
      if (Wildcards(compiled.args[0]) != Wildcards(compiled.args[1])) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, " (", name, ") needs as many * in the destination as in the source"));
      }
    }
    filter.ops_.push_back(std::move(compiled));
  }
  return filter;
}

void FlatmapFilter::Apply(nlohmann::json& value) const {
  for (const Op& op : ops_) {
    switch (op.type) {
      case OpType::kMove:
        Transfer(value, op.args[0], op.args[1], /*append=*/false);
        break;
      case OpType::kAppend:
        Transfer(value, op.args[0], op.args[1], /*append=*/true);
        break;
      case OpType::kDel:
        for (const Path& path : op.args) Delete(value, path, 0);
        break;
    }
  }
}

}  // namespace sluice::shaping
