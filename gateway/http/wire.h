#pragma once

// HTTP/1.1 serialisation of a message head into one flat buffer. Beast's serializer walks a
// concatenated buffer-sequence view per write, which profiles as one of the gateway's hottest
// spots; writing [head, body] as two plain buffers does the same job with a single append loop
// and no copy of the body.

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "boost/asio/buffer.hpp"
#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"
#include "gateway/http/exchange.h"
#include "gateway/http/executor.h"

namespace sluice::http {

// The bytes of a buffer (a flat_buffer's data(), say) as text.
inline std::string_view BytesOf(boost::asio::const_buffer buffer) {
  return {static_cast<const char*>(buffer.data()), buffer.size()};
}

// The Content-Type of every plain-text answer Sluice writes itself (404, 413, errors), as Go's
// net/http (and so KrakenD) sets it.
inline constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";

// The answer to a request refused because requests already hold the connection's or the
// process's buffer budget (sluice/http.max_buffered_request_bytes); the client may retry later.
inline constexpr std::string_view kOverBudgetText = "503 request buffers full, retry later";

// KrakenD's header saying whether every backend of an endpoint answered.
inline constexpr std::string_view kCompletedHeader = "X-Krakend-Completed";

// Hop-by-hop and framing headers (RFC 7230 6.1 plus Content-Length and Trailer): each hop sets
// its own, so a proxy never copies them from one side to the other.
bool IsHopByHop(boost::beast::http::field f);

// Appends "HTTP/1.1 <code> <reason>\r\n<fields>\r\n" to `out`.
void AppendResponseHead(const Response& response, std::string* out);

// Appends "<METHOD> <target> HTTP/1.1\r\n<fields>\r\n" to `out`.
void AppendRequestHead(const Request& request, std::string* out);

// A head and a body, as written to a socket.
using HeadAndBody = std::array<boost::asio::const_buffer, 2>;

// Writes what the socket takes now without waiting, and returns how many bytes that was (0 when
// it takes nothing or fails: the asynchronous write that follows meets the error again). A
// whole message written here continues at once, where asio::async_write would post its
// completion through the event loop: one handler run less per message. `buffers` is advanced
// past what was written.
std::size_t WriteNow(Socket& socket, HeadAndBody& buffers);

// The bytes `buffers` hold.
inline std::size_t Size(const HeadAndBody& buffers) {
  return buffers[0].size() + buffers[1].size();
}

}  // namespace sluice::http
