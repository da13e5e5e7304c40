// Fields (gateway/http/fields.h) stands in for Beast's basic_fields: differential tests run the
// same operations on both, through Beast's message interface where it matters (keep_alive,
// chunked, content_length), and compare everything a caller can see. The parser is compared with
// Beast's on the same bytes.

#include "gateway/http/fields.h"

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "boost/beast/http/message.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/string_body.hpp"
#include "boost/optional/optional_io.hpp"
#include "gateway/http/exchange.h"
#include "gateway/http/parser.h"
#include "gtest/gtest.h"

namespace sluice::http {
namespace {

namespace bhttp = boost::beast::http;
using BeastResponse = bhttp::response<bhttp::string_body>;
using BeastRequest = bhttp::request<bhttp::string_body>;

template <typename Message>
std::vector<std::string> Lines(const Message& m) {
  std::vector<std::string> out;
  out.push_back(std::to_string(m.version()));
  for (const auto& f : m) {
    out.push_back(std::string(f.name_string()) + ": " + std::string(f.value()) + " #" +
                  std::to_string(static_cast<int>(f.name())));
  }
  return out;
}

// Everything a caller reads, for one name.
template <typename Message>
std::string Look(const Message& m, const std::string& name) {
  auto it = m.find(name);
  std::string out = std::to_string(m.count(name)) + "|" + std::string(m[name]) + "|" +
                    (it == m.end() ? "<end>" : std::string(it->value()));
  const bhttp::field f = bhttp::string_to_field(name);
  if (f != bhttp::field::unknown) {
    auto by_field = m.find(f);
    out += "|" + std::to_string(m.count(f)) + "|" + std::string(m[f]) + "|" +
           (by_field == m.end() ? "<end>" : std::string(by_field->value()));
  }
  return out;
}

const std::vector<std::string> kNames = {"Content-Type",
                                         "content-type",
                                         "Set-Cookie",
                                         "X-A",
                                         "x-a",
                                         "X-B",
                                         "X-Forwarded-For",
                                         "x-forwarded-for",
                                         "X-Request-Id",
                                         "X-Request-ID",
                                         "X-Forwarded-Host",
                                         "Connection",
                                         "Transfer-Encoding",
                                         "Content-Length",
                                         "Host",
                                         "Via",
                                         "Cache-Control"};
const std::vector<std::string> kValues = {"",
                                          " v1\t",
                                          "chunked, gzip",
                                          "keep-alive, upgrade, close",
                                          "v1",
                                          "close",
                                          "keep-alive",
                                          "chunked",
                                          "gzip, chunked",
                                          "upgrade, close",
                                          "10",
                                          "x",
                                          "Keep-Alive, Upgrade",
                                          std::string(300, 'z'),
                                          std::string(40, 'y')};

template <typename Message>
void Apply(Message& m, int op, const std::string& name, const std::string& value, bool flag,
           uint64_t n) {
  const bhttp::field known = bhttp::string_to_field(name);  // unknown: ops 2 and 4 do nothing
  switch (op) {
    case 0:
    case 1:
      m.insert(name, value);
      break;
    case 2:
      if (known != bhttp::field::unknown) m.insert(known, value);
      break;
    case 3:
      m.set(name, value);
      break;
    case 4:
      if (known != bhttp::field::unknown) m.set(known, value);
      break;
    case 5:
      m.erase(name);
      break;
    case 6: {
      auto it = m.find(name);
      if (it != m.end()) m.erase(it);
      break;
    }
    case 7:
      m.keep_alive(flag);
      break;
    case 8:
      m.chunked(flag);
      break;
    case 9:
      m.content_length(n);
      break;
    case 10:
      m.version(flag ? 11 : 10);
      break;
    default:
      if (n % 8 == 0) m.clear();
      break;
  }
}

TEST(FieldsTest, BehavesAsBeastsBasicFieldsUnderRandomOperations) {
  std::mt19937 rng(20261205);
  for (int round = 0; round < 300; ++round) {
    BeastResponse beast(bhttp::status::ok, 11);
    Response ours(bhttp::status::ok, 11);
    for (int step = 0; step < 60; ++step) {
      const int op = static_cast<int>(rng() % 12);
      const std::string& name = kNames[rng() % kNames.size()];
      const std::string& value = kValues[rng() % kValues.size()];
      const bool flag = rng() % 2 == 0;
      const uint64_t n = rng() % 1000;
      Apply(beast, op, name, value, flag, n);
      Apply(ours, op, name, value, flag, n);
      ASSERT_EQ(Lines(ours), Lines(beast)) << "round " << round << " step " << step << " op " << op;
      ASSERT_EQ(ours.keep_alive(), beast.keep_alive());
      ASSERT_EQ(ours.chunked(), beast.chunked());
      ASSERT_EQ(ours.has_content_length(), beast.has_content_length());
      for (const std::string& look : kNames) ASSERT_EQ(Look(ours, look), Look(beast, look)) << look;
    }
    // Copies and moves keep everything; the moved-from one is empty.
    Response copy = ours;
    EXPECT_EQ(Lines(copy), Lines(beast));
    Response moved = std::move(copy);
    EXPECT_EQ(Lines(moved), Lines(beast));
    EXPECT_TRUE(copy.begin() == copy.end());  // NOLINT(bugprone-use-after-move): defined here
    copy = moved;
    moved.insert("X-After", "1");
    EXPECT_EQ(Lines(copy), Lines(beast)) << "a copy is independent";
  }
}

TEST(FieldsTest, ManyReplacementsKeepTheBufferBounded) {
  Response m;
  for (int i = 0; i < 100000; ++i) {
    m.set("X-Counter", std::to_string(i));
    m.set(bhttp::field::age, std::string(100, 'a'));
  }
  EXPECT_EQ(m["X-Counter"], "99999");
  EXPECT_EQ(m.count(bhttp::field::age), 1u);
  EXPECT_EQ(std::distance(m.begin(), m.end()), 2);
  // Replaced values' bytes are dropped when the buffer would grow: it stays near what the live
  // fields need (about 120 bytes), not 100,000 replacements' worth.
  EXPECT_LE(m.buffer_bytes(), 1024u);
}

TEST(FieldsTest, RequestLineAndStatusLineAsBeast) {
  Request req(bhttp::verb::get, "/a?b=c", 11);
  EXPECT_EQ(req.target(), "/a?b=c");
  EXPECT_EQ(req.method_string(), "GET");
  req.method_string("FROB");
  EXPECT_EQ(req.method(), bhttp::verb::unknown);
  EXPECT_EQ(req.method_string(), "FROB");
  req.method(bhttp::verb::post);
  EXPECT_EQ(req.method_string(), "POST");
  Response res(bhttp::status::not_found, 11);
  EXPECT_EQ(res.reason(), "Not Found");
  res.reason("Nowhere");
  EXPECT_EQ(res.reason(), "Nowhere");
  res.result(299);
  EXPECT_EQ(res.result_int(), 299u);
}

// Feeds `bytes` to `parser`, offering 1 to 7 bytes more each time (so every element arrives
// split somewhere), until it is done, fails, or has had everything. Returns the bytes it took.
template <typename Parser>
size_t Feed(Parser& parser, const std::string& bytes, boost::beast::error_code& ec) {
  size_t used = 0;
  size_t offered = 0;
  while (!parser.is_done() && used < bytes.size()) {
    offered = std::min(bytes.size(), std::max(offered, used) + offered % 7 + 1);
    const size_t n = parser.put(boost::asio::buffer(bytes.data() + used, offered - used), ec);
    if (ec == bhttp::error::need_more) {
      ec = {};
    } else if (ec) {
      break;
    }
    used += n;
    if (n == 0 && offered == bytes.size()) break;  // all of it offered, none taken
  }
  return used;
}

// The same bytes through Beast's parser and ours: the same message, the same errors.
// Returns how the parse ended: "done", "incomplete" or the error.
template <bool isRequest, typename BeastParser>
std::string CompareParsers(const std::string& bytes, uint64_t body_limit = 1 << 20) {
  BeastParser beast;
  MessageParser<isRequest> ours;
  beast.body_limit(body_limit);
  ours.body_limit(body_limit);
  beast.eager(true);
  ours.eager(true);
  boost::beast::error_code beast_ec;
  boost::beast::error_code our_ec;
  const size_t beast_used = Feed(beast, bytes, beast_ec);
  const size_t our_used = Feed(ours, bytes, our_ec);
  EXPECT_EQ(our_ec, beast_ec) << bytes;
  EXPECT_EQ(ours.is_done(), beast.is_done()) << bytes;
  EXPECT_EQ(our_used, beast_used);
  if (our_ec) return our_ec.message();
  if (!ours.is_done()) return "incomplete";
  EXPECT_EQ(Lines(ours.get()), Lines(beast.get())) << bytes;
  EXPECT_EQ(ours.get().body(), beast.get().body());
  EXPECT_EQ(ours.get().version(), beast.get().version());
  EXPECT_EQ(ours.get().keep_alive(), beast.get().keep_alive());
  EXPECT_EQ(ours.keep_alive(), beast.keep_alive());
  EXPECT_EQ(ours.content_length(), beast.content_length());
  if constexpr (isRequest) {
    EXPECT_EQ(ours.get().method_string(), beast.get().method_string());
    EXPECT_EQ(ours.get().target(), beast.get().target());
  } else {
    EXPECT_EQ(ours.get().result_int(), beast.get().result_int());
    EXPECT_EQ(ours.get().reason(), beast.get().reason());
  }
  return "done";
}

TEST(FieldsTest, TheParserFillsMessagesAsBeastsDoes) {
  using BeastRequestParser = bhttp::request_parser<bhttp::string_body>;
  using BeastResponseParser = bhttp::response_parser<bhttp::string_body>;
  struct Case {
    std::string bytes;
    std::string ends;  // "done", "incomplete" or "error"
  };
  auto kind = [](const std::string& got) {
    return got == "done" || got == "incomplete" ? got : "error";
  };
  const Case requests[] = {
      {"GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\nX-B: 3\r\nX-A: 4\r\n\r\n", "done"},
      {"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "done"},
      {"PURGE /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "done"},
      {"FROB /f HTTP/1.1\r\nX-Pad:   spaced value \t\r\n\r\n", "done"},
      {"PUT /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
       "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n",
       "done"},
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "error"},
      {"GET / HTTP/1.1\r\nBad Header\r\n\r\n", "error"},
      {"POST /big HTTP/1.1\r\nContent-Length: 5000000\r\n\r\n", "error"},  // over body_limit
  };
  for (const Case& c : requests) {
    SCOPED_TRACE(c.bytes);
    EXPECT_EQ(kind(CompareParsers<true, BeastRequestParser>(c.bytes)), c.ends);
  }
  const Case responses[] = {
      {"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sat, 05 Dec 2026 18:00:00 GMT\r\n"
       "Content-Type: application/json\r\nContent-Length: 2\r\n"
       "Set-Cookie: a=1\r\nX-A: 1\r\nSet-Cookie: b=2\r\n\r\n{}",
       "done"},
      {"HTTP/1.1 404 Nowhere\r\nContent-Length: 0\r\n\r\n", "done"},
      {"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nuntil the end", "incomplete"},
      {"HTTP/1.1 299 \r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", "done"},
  };
  for (const Case& c : responses) {
    SCOPED_TRACE(c.bytes);
    EXPECT_EQ(kind(CompareParsers<false, BeastResponseParser>(c.bytes)), c.ends);
  }
}

}  // namespace
}  // namespace sluice::http
