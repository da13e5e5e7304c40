#include "gateway/http/simple_head.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "boost/beast/http/field.hpp"
#include "gateway/common/strings.h"

namespace sluice::http {

namespace {

using boost::beast::http::field;

enum CharClass : uint8_t {
  kOther = 0,
  kToken = 1,    // tchar (RFC 9110 section 5.6.2): a field name's characters
  kText = 2,     // visible ASCII, SP, HTAB: a value's or reason's characters
  kVisible = 4,  // visible ASCII: a request target's characters
};

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> c{};
  for (int i = 0x21; i <= 0x7E; ++i) c[i] = kText | kVisible;
  c[' '] = c['\t'] = kText;
  for (int i = '0'; i <= '9'; ++i) c[i] |= kToken;
  for (int i = 'a'; i <= 'z'; ++i) c[i] |= kToken;
  for (int i = 'A'; i <= 'Z'; ++i) c[i] |= kToken;
  for (char t : std::string_view("!#$%&'*+-.^_`|~")) c[static_cast<unsigned char>(t)] |= kToken;
  return c;
}

constexpr std::array<uint8_t, 256> kClasses = MakeClasses();

bool Is(char c, CharClass k) { return (kClasses[static_cast<unsigned char>(c)] & k) != 0; }

// The text from `pos` to the next CRLF (pos is left after it), when every character is kText.
bool TextLine(std::string_view in, std::size_t* pos, std::string_view* text) {
  const std::size_t begin = *pos;
  std::size_t p = begin;
  // Eight bytes at a time while all are 0x20-0x7E (most of a value), then byte by byte (HTAB,
  // the CR, anything else).
  constexpr uint64_t kOnes = 0x0101010101010101, kHighs = 0x8080808080808080;
  while (in.size() - p >= 8) {
    uint64_t x;
    std::memcpy(&x, in.data() + p, 8);
    const uint64_t below_space = (x - 0x20 * kOnes) & ~x & kHighs;
    const uint64_t above_tilde = ((x + kOnes) | x) & kHighs;  // 0x7F or 0x80-0xFF
    if ((below_space | above_tilde) != 0) break;
    p += 8;
  }
  while (p < in.size() && Is(in[p], kText)) ++p;
  if (in.size() - p < 2 || in[p] != '\r' || in[p + 1] != '\n') return false;
  *text = in.substr(begin, p - begin);
  *pos = p + 2;
  return true;
}

// What Beast's parser acts on among the fields (basic_parser::do_field).
struct Framing {
  bool bodyless = false;  // a request read here has no body: a Content-Length declines it
  bool has_length = false;
  uint64_t length = 0;
  bool close = false;       // Connection: close
  bool keep_alive = false;  // Connection: keep-alive
};

// The fields from `pos` through the blank line (pos is left after it), inserted into `out` as
// Beast's parser inserts them. False: declined.
bool ParseFields(std::string_view in, std::size_t* pos, Fields* out, Framing* framing) {
  std::size_t p = *pos;
  bool has_connection = false;
  while (true) {
    if (in.size() - p < 2) return false;
    if (in[p] == '\r') {
      if (in[p + 1] != '\n') return false;
      *pos = p + 2;
      return true;
    }
    // A line starting with SP or HTAB continues the one before (obs-fold, which Beast joins):
    // it has no name, and is declined here.
    const std::size_t name_begin = p;
    while (p < in.size() && Is(in[p], kToken)) ++p;
    if (p == name_begin || p == in.size() || in[p] != ':') return false;
    const std::string_view name = in.substr(name_begin, p - name_begin);
    ++p;
    std::string_view value;
    if (!TextLine(in, &p, &value)) return false;
    value = TrimOws(value);

    const field f = boost::beast::http::string_to_field(Bv(name));
    switch (f) {
      case field::content_length:
        if (framing->bodyless || framing->has_length || value.empty() || value.size() > 18) {
          return false;
        }
        for (char c : value) {
          if (c < '0' || c > '9') return false;
          framing->length = framing->length * 10 + static_cast<uint64_t>(c - '0');
        }
        framing->has_length = true;
        break;
      case field::connection:
        if (has_connection) return false;
        has_connection = true;
        framing->close = EqualsIgnoreCase(value, "close");
        framing->keep_alive = EqualsIgnoreCase(value, "keep-alive");
        if (!framing->close && !framing->keep_alive) return false;
        break;
      case field::transfer_encoding:
      case field::upgrade:
      case field::proxy_connection:
        return false;
      default:
        break;
    }
    out->insert(f, Bv(name), Bv(value));
  }
}

// "HTTP/1.0" or "HTTP/1.1" at `at`: 10 or 11; 0 for anything else.
unsigned Version(std::string_view in, std::size_t at) {
  if (in.size() - at < 8 || in.substr(at, 7) != "HTTP/1.") return 0;
  return in[at + 7] == '0' ? 10 : in[at + 7] == '1' ? 11 : 0;
}

}  // namespace

bool ParseSimpleHead(std::string_view in, Response* out, SimpleHead* head) {
  if (in.size() > kMaxSimpleHead) in = in.substr(0, kMaxSimpleHead);
  // "HTTP/1.x" SP 3DIGIT SP
  constexpr std::size_t kStatusEnd = 13;
  const unsigned version = in.size() < kStatusEnd ? 0 : Version(in, 0);
  if (version == 0 || in[8] != ' ' || in[12] != ' ') return false;
  unsigned status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (in[i] < '0' || in[i] > '9') return false;
    status = status * 10 + static_cast<unsigned>(in[i] - '0');
  }
  if (status < 200 || status == 204 || status == 304) return false;
  std::size_t pos = kStatusEnd;
  std::string_view reason;
  if (!TextLine(in, &pos, &reason)) return false;
  out->result(status);
  out->version(version);
  out->reason(Bv(reason));
  Framing framing;
  // Without a Content-Length: chunked, or read until the close (Beast's).
  if (!ParseFields(in, &pos, out, &framing) || !framing.has_length) return false;
  head->size = pos;
  head->content_length = framing.length;
  head->keep_alive = version == 11 ? !framing.close : framing.keep_alive;
  return true;
}

bool ParseSimpleRequestHead(std::string_view in, std::size_t max_size, Request* out,
                            std::size_t* size) {
  // Strictly under the limit: never looser than the listener's (Beast's own check is looser
  // still: it applies the limit to the request line and to the fields apart).
  in = in.substr(0, std::min({in.size(), kMaxSimpleHead, max_size > 0 ? max_size - 1 : 0}));
  // method SP target SP "HTTP/1.x" CRLF
  std::size_t pos = 0;
  while (pos < in.size() && Is(in[pos], kToken)) ++pos;
  if (pos == 0 || pos == in.size() || in[pos] != ' ') return false;
  const auto verb = boost::beast::http::string_to_verb(Bv(in.substr(0, pos)));
  if (verb == boost::beast::http::verb::unknown) return false;
  const std::size_t target_begin = ++pos;
  while (pos < in.size() && Is(in[pos], kVisible)) ++pos;
  if (pos == target_begin || pos == in.size() || in[pos] != ' ') return false;
  const std::string_view target = in.substr(target_begin, pos - target_begin);
  const unsigned version = Version(in, ++pos);
  pos += 8;
  if (version == 0 || in.size() - pos < 2 || in[pos] != '\r' || in[pos + 1] != '\n') return false;
  pos += 2;
  out->method(verb);
  out->target(Bv(target));
  out->version(version);
  // With a Content-Length (or Transfer-Encoding) the request has a body: Beast's, declined as
  // soon as the field is seen.
  Framing framing;
  framing.bodyless = true;
  if (!ParseFields(in, &pos, out, &framing)) return false;
  *size = pos;
  return true;
}

}  // namespace sluice::http
