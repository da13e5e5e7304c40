#include "gateway/router/router.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sluice::router {

struct Router::Node {
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> literals;
  std::unique_ptr<Node> param;
  std::string param_name;
  std::vector<std::pair<std::string, int>> methods;  // routes ending here

  const int* FindMethod(std::string_view method) const {
    for (const auto& [m, id] : methods) {
      if (m == method) return &id;
    }
    return nullptr;
  }
};

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsParamSegment(std::string_view s) {
  return s.size() >= 3 && s.front() == '{' && s.back() == '}';
}

// Most API paths have few segments: keep them on the stack.
using SegmentList = absl::InlinedVector<std::string_view, 8>;

// Splits "/a/b" into {"a","b"}; "/" into {""}.
SegmentList Segments(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  SegmentList out;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      return out;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

}  // namespace

std::string PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

Router::Router(std::unique_ptr<Node> root) : root_(std::move(root)) {}
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;
Router::~Router() = default;

absl::StatusOr<Router> Router::Build(const std::vector<Route>& routes) {
  auto root = std::make_unique<Node>();
  for (const Route& route : routes) {
    if (route.path_template.empty() || route.path_template.front() != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("route ", route.path_template, ": must start with '/'"));
    }
    Node* node = root.get();
    for (std::string_view seg : Segments(route.path_template)) {
      if (IsParamSegment(seg)) {
        std::string name(seg.substr(1, seg.size() - 2));
        if (!node->param) {
          node->param = std::make_unique<Node>();
          node->param_name = name;
        }
        node = node->param.get();
        continue;
      }
      Node* next = nullptr;
      for (auto& [literal, child] : node->literals) {
        if (literal == seg) next = child.get();
      }
      if (next == nullptr) {
        node->literals.emplace_back(std::string(seg), std::make_unique<Node>());
        next = node->literals.back().second.get();
      }
      node = next;
    }
    if (node->FindMethod(route.method) != nullptr) {
      return absl::AlreadyExistsError(
          absl::StrCat("duplicate route ", route.method, " ", route.path_template));
    }
    node->methods.emplace_back(route.method, route.id);
  }
  return Router(std::move(root));
}

namespace {

// Depth-first walk: literal child first, then the param child. Returns the node where the path
// ends with at least one route, or nullptr. `params` holds raw (encoded) values on success.
template <typename NodeT>
const NodeT* Walk(const NodeT* node, const SegmentList& segs, size_t i,
                  absl::InlinedVector<std::pair<std::string_view, std::string_view>, 4>* params) {
  if (i == segs.size()) return node->methods.empty() ? nullptr : node;
  std::string_view seg = segs[i];
  for (const auto& [literal, child] : node->literals) {
    if (literal == seg) {
      if (const NodeT* found = Walk(child.get(), segs, i + 1, params)) return found;
      break;
    }
  }
  if (node->param && !seg.empty()) {
    params->emplace_back(node->param_name, seg);
    if (const NodeT* found = Walk(node->param.get(), segs, i + 1, params)) return found;
    params->pop_back();
  }
  return nullptr;
}

}  // namespace

MatchResult Router::Match(std::string_view method, std::string_view path, int* id,
                          Params* params) const {
  SegmentList segs = Segments(path);
  absl::InlinedVector<std::pair<std::string_view, std::string_view>, 4> raw;
  const Node* node = Walk(root_.get(), segs, 0, &raw);
  if (node == nullptr) return MatchResult::kNotFound;
  const int* found = node->FindMethod(method);
  if (found == nullptr && method == "HEAD") found = node->FindMethod("GET");
  if (found == nullptr) return MatchResult::kMethodNotAllowed;
  *id = *found;
  params->clear();
  for (const auto& [name, value] : raw) params->emplace_back(name, PercentDecode(value));
  return MatchResult::kFound;
}

}  // namespace sluice::router
