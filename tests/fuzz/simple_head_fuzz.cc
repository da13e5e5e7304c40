// The common-form head readers (gateway/http/simple_head.h) against Beast's parser: whatever
// they take, Beast must read the same way (the same head size, message and framing); a
// difference traps. The first byte picks answer or request, and a request's header limit.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "boost/beast/core/error.hpp"
#include "gateway/http/exchange.h"
#include "gateway/http/parser.h"
#include "gateway/http/simple_head.h"

namespace {

using sluice::http::Fields;

bool SameFields(const Fields& a, const Fields& b) {
  auto i = a.begin(), j = b.begin();
  for (; i != a.end() && j != b.end(); ++i, ++j) {
    if (i->name() != j->name() || i->name_string() != j->name_string() ||
        i->value() != j->value()) {
      return false;
    }
  }
  return i == a.end() && j == b.end();
}

void Check(bool same) {
  if (!same) __builtin_trap();
}

void Answer(std::string_view bytes) {
  sluice::http::Response ours;
  sluice::http::SimpleHead head;
  if (!sluice::http::ParseSimpleHead(bytes, &ours, &head)) return;
  sluice::http::ResponseParser beast;
  beast.eager(false);
  // The client checks the length against its own limit. (Not boost::none: Beast 1.74 compares
  // the length with the empty optional and refuses every body.)
  beast.body_limit(UINT64_MAX);
  boost::beast::error_code ec;
  const size_t used = beast.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  Check(!ec && beast.is_header_done() && used == head.size);
  const auto& theirs = beast.get();
  Check(ours.result_int() == theirs.result_int() && ours.version() == theirs.version() &&
        ours.reason() == theirs.reason() && SameFields(ours, theirs));
  Check(beast.keep_alive() == head.keep_alive && !beast.chunked() &&
        beast.content_length() == head.content_length);
}

void Request(std::string_view bytes, size_t limit) {
  sluice::http::Request ours;
  size_t size = 0;
  if (!sluice::http::ParseSimpleRequestHead(bytes, limit, &ours, &size)) return;
  sluice::http::RequestParser beast;
  beast.header_limit(static_cast<uint32_t>(limit));
  beast.eager(true);
  boost::beast::error_code ec;
  const size_t used = beast.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  Check(!ec && beast.is_done() && used == size);
  const auto& theirs = beast.get();
  Check(ours.method() == theirs.method() && ours.method_string() == theirs.method_string() &&
        ours.target() == theirs.target() && ours.version() == theirs.version() &&
        SameFields(ours, theirs) && ours.keep_alive() == theirs.keep_alive() &&
        theirs.body().empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    Answer(bytes);
  } else {
    // A limit near the head's size half of the time: the edge of Beast's header_limit.
    Request(bytes, data[0] & 2 ? 8192 : bytes.size() - bytes.size() / 8 + (data[0] >> 4));
  }
  return 0;
}
