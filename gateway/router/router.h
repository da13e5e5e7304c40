#pragma once

// Method + path-template routing. Templates are split into segments at start-up into a trie; a
// request walks it once. A literal segment wins over a {param} at the same position, with
// backtracking, so `/users/search` and `/users/{id}` coexist (gin, under KrakenD, panics on this).

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "gateway/common/params.h"

namespace sluice::router {

// Path parameter values, percent-decoded, in template order. Names point into the router.
using Params = PathParams;

struct Route {
  std::string method;         // upper-case
  std::string path_template;  // "/users/{id}/posts"
  int id = 0;                 // returned on match
};

enum class MatchResult { kFound, kNotFound, kMethodNotAllowed };

class Router {
 public:
  // Fails (naming the template) on duplicate method+template or a malformed template.
  static absl::StatusOr<Router> Build(const std::vector<Route>& routes);

  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;
  ~Router();

  // `path` is the request path without the query string, still percent-encoded. HEAD falls back
  // to a GET route when no HEAD route exists. Thread-safe: the router is immutable.
  MatchResult Match(std::string_view method, std::string_view path, int* id, Params* params) const;

  // gin's RedirectFixedPath: the route path for `method` that `path` names when letters' case is
  // ignored (and, with `trailing_slash`, a trailing slash added or removed), spelled as the
  // route spells its literal segments (parameters as the request has them); nullopt if none.
  std::optional<std::string> FixedPath(std::string_view method, std::string_view path,
                                       bool trailing_slash) const;

 private:
  struct Node;
  explicit Router(std::unique_ptr<Node> root);
  std::unique_ptr<Node> root_;
};

// gin's CleanPath: "//" collapsed, "." and ".." resolved; a trailing slash kept.
std::string CleanPath(std::string_view path);

}  // namespace sluice::router
