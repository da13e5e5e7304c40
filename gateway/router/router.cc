#include "gateway/router/router.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/common/strings.h"

namespace sluice::router {

struct Router::Node {
  // A route ending at this node: its method, id and the names of its {params} in order (two
  // templates may share a trie path but name their params differently).
  struct End {
    std::string method;
    int id;
    std::vector<std::string> param_names;
  };

  std::vector<std::pair<std::string, std::unique_ptr<Node>>> literals;
  std::unique_ptr<Node> param;
  std::vector<End> ends;

  // The route for `method` here (HEAD falls back to GET); with an empty method, any route.
  const End* Find(std::string_view method) const {
    const End* get = nullptr;
    for (const End& e : ends) {
      if (method.empty() || e.method == method) return &e;
      if (e.method == "GET") get = &e;
    }
    return method == "HEAD" ? get : nullptr;
  }
};

namespace {

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
    std::vector<std::string> names;
    for (std::string_view seg : Segments(route.path_template)) {
      if (IsParamSegment(seg)) {
        names.emplace_back(seg.substr(1, seg.size() - 2));
        if (!node->param) node->param = std::make_unique<Node>();
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
    for (const Node::End& e : node->ends) {
      if (e.method == route.method) {
        return absl::AlreadyExistsError(
            absl::StrCat("duplicate route ", route.method, " ", route.path_template));
      }
    }
    node->ends.push_back(Node::End{route.method, route.id, std::move(names)});
  }
  return Router(std::move(root));
}

namespace {

using RawParams = absl::InlinedVector<std::string_view, 4>;

// Depth-first walk: the literal child first, then the {param} child (backtracking), accepting only
// an end node with a route for `method` (any route when `method` is empty). `values` holds the
// raw (still encoded) param values on success.
template <typename NodeT>
const typename NodeT::End* Walk(const NodeT* node, const SegmentList& segs, size_t i,
                                std::string_view method, RawParams* values) {
  if (i == segs.size()) return node->Find(method);
  std::string_view seg = segs[i];
  for (const auto& [literal, child] : node->literals) {
    if (literal == seg) {
      if (const auto* found = Walk(child.get(), segs, i + 1, method, values)) return found;
      break;
    }
  }
  if (node->param && !seg.empty()) {
    values->push_back(seg);
    if (const auto* found = Walk(node->param.get(), segs, i + 1, method, values)) return found;
    values->pop_back();
  }
  return nullptr;
}

// Walk with literal segments compared without case; `out` collects the route's spelling.
template <typename NodeT>
bool CiWalk(const NodeT* node, const SegmentList& segs, size_t i, std::string_view method,
            std::vector<std::string_view>* out) {
  if (i == segs.size()) return node->Find(method) != nullptr;
  std::string_view seg = segs[i];
  for (const auto& [literal, child] : node->literals) {
    if (literal.size() == seg.size() &&
        absl::EqualsIgnoreCase(literal, absl::string_view(seg.data(), seg.size()))) {
      out->push_back(literal);
      if (CiWalk(child.get(), segs, i + 1, method, out)) return true;
      out->pop_back();
    }
  }
  if (node->param && !seg.empty()) {
    out->push_back(seg);
    if (CiWalk(node->param.get(), segs, i + 1, method, out)) return true;
    out->pop_back();
  }
  return false;
}

// "/" and the segments joined by "/".
std::string JoinPath(const std::vector<std::string_view>& segments) {
  std::string out;
  for (std::string_view seg : segments) {
    out.push_back('/');
    out.append(seg);
  }
  return out.empty() ? "/" : out;
}

}  // namespace

std::string CleanPath(std::string_view path) {
  std::vector<std::string_view> parts;
  for (std::string_view seg : Segments(path)) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(seg);
  }
  std::string out = JoinPath(parts);
  if (path.size() > 1 && path.back() == '/' && out != "/") out.push_back('/');
  return out;
}

std::optional<std::string> Router::FixedPath(std::string_view method, std::string_view path,
                                             bool trailing_slash) const {
  std::vector<std::string> candidates = {std::string(path)};
  if (trailing_slash && path != "/") {
    candidates.push_back(path.back() == '/' ? std::string(path.substr(0, path.size() - 1))
                                            : std::string(path) + "/");
  }
  for (const std::string& candidate : candidates) {
    std::vector<std::string_view> spelled;
    if (CiWalk(root_.get(), Segments(candidate), 0, method, &spelled)) {
      return JoinPath(spelled);
    }
  }
  return std::nullopt;
}

MatchResult Router::Match(std::string_view method, std::string_view path, int* id,
                          Params* params) const {
  SegmentList segs = Segments(path);
  RawParams values;
  const Node::End* end = Walk(root_.get(), segs, 0, method, &values);
  if (end == nullptr) {
    RawParams ignored;
    return Walk(root_.get(), segs, 0, std::string_view(), &ignored) != nullptr
               ? MatchResult::kMethodNotAllowed
               : MatchResult::kNotFound;
  }
  *id = end->id;
  params->clear();
  for (size_t i = 0; i < values.size(); ++i) {
    params->emplace_back(end->param_names[i], PercentDecode(values[i]));
  }
  return MatchResult::kFound;
}

}  // namespace sluice::router
