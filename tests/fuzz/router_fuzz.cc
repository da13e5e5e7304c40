// The router against any method and path: matching, gin's fixed-path redirect lookup, path
// cleaning and percent-decoding must neither crash nor loop, whatever the bytes.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/common/strings.h"
#include "gateway/router/router.h"

namespace {

const sluice::router::Router& TheRouter() {
  static const auto* router = new sluice::router::Router(*sluice::router::Router::Build({
      {"GET", "/users/{id}", 0},
      {"GET", "/users/{id}/posts/{post}", 1},
      {"POST", "/users", 2},
      {"GET", "/static/files", 3},
      {"PUT", "/a/{b}/c/{d}/e", 4},
      {"GET", "/", 5},
  }));
  return *router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* kMethods[] = {"GET", "POST", "PUT", "HEAD", "DELETE", "get"};
  const std::string_view method = kMethods[data[0] % 6];
  const std::string_view path(reinterpret_cast<const char*>(data + 1), size - 1);
  int id = -1;
  sluice::router::Params params;
  TheRouter().Match(method, path, &id, &params);
  TheRouter().FixedPath(method, path, true);
  TheRouter().FixedPath(method, path, false);
  sluice::router::CleanPath(path);
  sluice::PercentDecode(path);
  return 0;
}
