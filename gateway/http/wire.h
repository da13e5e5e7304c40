#pragma once

// HTTP/1.1 serialisation of a message head into one flat buffer. Beast's serializer walks a
// concatenated buffer-sequence view per write, which profiles as one of the gateway's hottest
// spots; writing [head, body] as two plain buffers does the same job with a single append loop
// and no copy of the body.

#include <string>

#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"

namespace sluice::http {

// Hop-by-hop and framing headers (RFC 7230 6.1 plus Content-Length and Trailer): each hop sets
// its own, so a proxy never copies them from one side to the other.
bool IsHopByHop(boost::beast::http::field f);

// Appends "HTTP/1.1 <code> <reason>\r\n<fields>\r\n" to `out`.
void AppendResponseHead(
    const boost::beast::http::response<boost::beast::http::string_body>& response,
    std::string* out);

// Appends "<METHOD> <target> HTTP/1.1\r\n<fields>\r\n" to `out`.
void AppendRequestHead(
    const boost::beast::http::request<boost::beast::http::string_body>& request,
    std::string* out);

}  // namespace sluice::http
