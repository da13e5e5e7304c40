#pragma once

// HTTP/1.1 serialisation of a message head into one flat buffer. Beast's serializer walks a
// concatenated buffer-sequence view per write, which profiles as one of the gateway's hottest
// spots; writing [head, body] as two plain buffers does the same job with a single append loop
// and no copy of the body.

#include <string>
#include <string_view>

#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"

namespace sluice::http {

// The Content-Type of every plain-text answer Sluice writes itself (404, 413, errors), as Go's
// net/http (and so KrakenD) sets it.
inline constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";

// KrakenD's header saying whether every backend of an endpoint answered.
inline constexpr std::string_view kCompletedHeader = "X-Krakend-Completed";

// Hop-by-hop and framing headers (RFC 7230 6.1 plus Content-Length and Trailer): each hop sets
// its own, so a proxy never copies them from one side to the other.
bool IsHopByHop(boost::beast::http::field f);

// Appends "HTTP/1.1 <code> <reason>\r\n<fields>\r\n" to `out`.
void AppendResponseHead(
    const boost::beast::http::response<boost::beast::http::string_body>& response,
    std::string* out);

// Appends "<METHOD> <target> HTTP/1.1\r\n<fields>\r\n" to `out`.
void AppendRequestHead(const boost::beast::http::request<boost::beast::http::string_body>& request,
                       std::string* out);

}  // namespace sluice::http
