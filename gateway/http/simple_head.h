#pragma once

// Message heads in their most common form, read without Beast's parser. Nearly every answer a
// REST backend gives is "HTTP/1.1", a status, a handful of plain fields and a Content-Length,
// and nearly every request a client sends to an API is a bodyless GET of the same kind; for
// them, Beast's parser (a first scan for the blank line, then a validating scan per field, a
// token-list parse of Connection and Content-Length, a virtual call per field) was a fifth of
// the instructions Sluice spent on a no-op request. These read that form in one pass and
// decline everything else, which the caller then gives to Beast's parser: so what is read here
// is what Beast would read, and anything unusual (or hostile: request smuggling lives in the
// unusual) still meets Beast's checks and Sluice's own. tests/gateway/http/simple_head_test.cc
// holds the two against each other.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/http/exchange.h"

namespace sluice::http {

// What the head says about the body and the connection.
struct SimpleHead {
  std::size_t size = 0;              // bytes of the head, through its blank line
  std::uint64_t content_length = 0;  // the body's bytes, which follow the head
  bool keep_alive = false;           // as Beast's parser says it: the connection may be reused
};

// Heads larger than this are declined (common heads are a few hundred bytes).
inline constexpr std::size_t kMaxSimpleHead = 4096;

// Reads the answer head at the start of `bytes` into `out` (status, version, reason, fields,
// as Beast's parser fills them) and `head`, when the whole head is there and in this form:
// - the status line "HTTP/1.1" or "HTTP/1.0", SP, a status of 200-999 but 204 and 304 (whose
//   Content-Length describes no body here), SP, a reason of visible ASCII, SP and HTAB;
// - fields: a name of token characters, ':', a value of visible ASCII, SP and HTAB (spaces and
//   tabs at either end are not part of it); no folded lines;
// - exactly one Content-Length, of 1-18 digits; no Transfer-Encoding, Upgrade or
//   Proxy-Connection; Connection at most once, and only "close" or "keep-alive";
// - every line ended by CRLF; at most kMaxSimpleHead bytes.
// Otherwise returns false and leaves `out` unspecified: the caller parses with Beast, from the
// same bytes. Never for an answer to HEAD or after a 1xx answer (the caller's to know).
bool ParseSimpleHead(std::string_view bytes, Response* out, SimpleHead* head);

// Reads the request head at the start of `bytes` into `out` (method, target, version, fields,
// as Beast's parser fills them) and its size into `size`, when the whole head is there, under
// `max_size` bytes (the listener's header limit) and kMaxSimpleHead, and in this form:
// - the request line: a method Beast knows by name (GET, POST...), SP, a target of visible
//   ASCII, SP, "HTTP/1.1" or "HTTP/1.0", CRLF;
// - fields as for ParseSimpleHead, but no Content-Length at all: the request has no body.
// Otherwise returns false and leaves `out` unspecified: the caller parses with Beast.
bool ParseSimpleRequestHead(std::string_view bytes, std::size_t max_size, Request* out,
                            std::size_t* size);

}  // namespace sluice::http
