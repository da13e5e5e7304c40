// HTTP/1.1 requests as the front reads them: Beast's parser with Sluice's default limits on the
// header block and the body, fed in two pieces (a split anywhere must not change the outcome's
// safety), then the request's target through the router's path functions.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "boost/beast/core/error.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/string_body.hpp"
#include "gateway/router/router.h"

namespace bhttp = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t split = data[0] % size;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(1 << 20);
  parser.body_limit(8 << 20);
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(bytes.data(), std::min(split, bytes.size())), ec);
  // A parser that has a whole message takes nothing more (Beast asserts it; the server starts a
  // new parser for the next request).
  if ((ec == bhttp::error::need_more || !ec) && !parser.is_done()) {
    ec = {};
    const std::string_view rest = bytes.substr(used);
    parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
  }
  if (parser.is_header_done()) {
    const auto target = parser.get().target();
    const std::string_view path(target.data(), target.size());
    sluice::router::CleanPath(path.substr(0, path.find('?')));
  }
  return 0;
}
