// ParseSimpleHead (gateway/http/simple_head.h) against Beast's parser: on every head it takes,
// it must fill the message, and say what Beast's parser says about the body and the connection;
// every head Beast refuses, it must decline. The heads are random mutations of common answers.

#include "gateway/http/simple_head.h"

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "boost/beast/http/error.hpp"
#include "boost/optional/optional_io.hpp"
#include "gateway/http/exchange.h"
#include "gateway/http/parser.h"
#include "gtest/gtest.h"

namespace sluice::http {
namespace {

// What Beast's parser (with Sluice's Fields, as the REST client runs it) makes of `bytes`.
struct BeastView {
  bool head_done = false;
  size_t head_size = 0;
  ResponseParser parser;
};

void ParseWithBeast(const std::string& bytes, BeastView* view) {
  view->parser.eager(false);            // as the client: stop after the head
  view->parser.body_limit(UINT64_MAX);  // the client checks the length against its own limit
  boost::beast::error_code ec;
  const size_t used = view->parser.put(boost::asio::buffer(bytes), ec);
  view->head_done = !ec && view->parser.is_header_done();
  view->head_size = used;
}

// Every field: its enum, name and value, in order.
std::vector<std::string> FieldList(const Fields& fields) {
  std::vector<std::string> out;
  for (const auto& f : fields) {
    out.push_back(std::to_string(static_cast<int>(f.name())) + "|" + std::string(f.name_string()) +
                  "|" + std::string(f.value()));
  }
  return out;
}

// One to three random edits of `bytes`: a byte of `alphabet` in, out or changed, one of `lines`
// in at a line start, or the bytes cut short.
void Mutate(std::mt19937& rng, const std::string& alphabet, const std::vector<std::string>& lines,
            std::string* bytes) {
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < edits; ++e) {
    const size_t at = rng() % (bytes->size() + 1);
    switch (rng() % 5) {
      case 0:
        bytes->insert(at, 1, alphabet[rng() % alphabet.size()]);
        break;
      case 1:
        if (at < bytes->size()) bytes->erase(at, 1);
        break;
      case 2:
        if (at < bytes->size()) (*bytes)[at] = alphabet[rng() % alphabet.size()];
        break;
      case 3: {
        const size_t line = bytes->find("\r\n", at);
        if (line != std::string::npos) bytes->insert(line + 2, lines[rng() % lines.size()]);
        break;
      }
      default:
        bytes->resize(at);
        break;
    }
  }
}

// Runs `compare` (which says whether the simple reader took the head) on 20,000 random
// mutations of `seeds`, with bytes that matter to either reader and `words`; both outcomes must
// come up often.
template <typename Check>
void MutateAndCompare(const std::vector<std::string>& seeds, const std::string& words,
                      const std::vector<std::string>& lines, uint32_t seed, Check compare) {
  static constexpr char kBytes[] = "\r\n \t:,;\"()/\\@=?{}#%\x7f\x80\xff\x01\0aZ09-";
  const std::string alphabet = std::string(kBytes, sizeof kBytes - 1) + words;
  std::mt19937 rng(seed);
  int taken = 0, declined = 0;
  for (int round = 0; round < 20000 && !::testing::Test::HasFailure(); ++round) {
    std::string bytes = seeds[rng() % seeds.size()];
    Mutate(rng, alphabet, lines, &bytes);
    (compare(bytes, rng) ? taken : declined)++;
  }
  EXPECT_GT(taken, 2000);
  EXPECT_GT(declined, 2000);
}

// Checks `bytes` both ways; returns whether ParseSimpleHead took it.
bool Compare(const std::string& bytes) {
  SCOPED_TRACE(::testing::Message() << "head: " << ::testing::PrintToString(bytes));
  Response ours;
  SimpleHead head;
  const bool taken = ParseSimpleHead(bytes, &ours, &head);
  BeastView beast;
  ParseWithBeast(bytes, &beast);
  if (!taken) return false;
  EXPECT_TRUE(beast.head_done) << "taken here, refused or unfinished for Beast";
  if (!beast.head_done) return true;
  const Response& theirs = beast.parser.get();
  EXPECT_EQ(head.size, beast.head_size);
  EXPECT_EQ(ours.result_int(), theirs.result_int());
  EXPECT_EQ(ours.version(), theirs.version());
  EXPECT_EQ(ours.reason(), theirs.reason());
  EXPECT_EQ(FieldList(ours), FieldList(theirs));
  EXPECT_EQ(head.keep_alive, beast.parser.keep_alive());
  EXPECT_EQ(boost::optional<uint64_t>(head.content_length), beast.parser.content_length());
  EXPECT_FALSE(beast.parser.chunked());
  EXPECT_EQ(beast.parser.is_done(), head.content_length == 0);
  return true;
}

TEST(SimpleHeadTest, TakesTheCommonAnswerAsBeastReadsIt) {
  const std::string nginx =
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 05 Dec 2026 21:00:00 GMT\r\n"
      "Content-Type: application/json\r\nContent-Length: 420\r\nConnection: keep-alive\r\n\r\n";
  EXPECT_TRUE(Compare(nginx));
  EXPECT_TRUE(Compare(nginx + std::string(420, 'x')));  // the body is not the head's business
  EXPECT_TRUE(Compare("HTTP/1.0 201 \r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n"));
  EXPECT_TRUE(Compare("HTTP/1.0 500 Oops\r\nContent-Length: 3\r\n\r\n"));  // 1.0: not kept
  EXPECT_TRUE(
      Compare("HTTP/1.1 404 Not Found\r\nX-Empty:\r\nX-Pad: \t a b \t\r\n"
              "content-length: 007\r\nConnection: close\r\nx-a: 1\r\nX-A: 2\r\n\r\n"));
}

TEST(SimpleHeadTest, DeclinesWhatBeastMustRead) {
  const char* declined[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",                           // unfinished
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",              // chunked
      "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n",                               // until the close
      "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",               // no body, whatever
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",            // the length says
      "HTTP/1.1 103 Early Hints\r\nContent-Length: 0\r\n\r\n",              // informational
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",  // Beast: a list
      "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",  // 19 digits
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, Upgrade\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 1\r\n\r\n",  // obs-fold
      "HTTP/1.1 200 OK\r\nX-Bare-LF: a\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Obs-Text: caf\xc3\xa9\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Space : a\r\nContent-Length: 1\r\n\r\n",
      "HTTP/2.0 200 OK\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n",  // no SP after the status: Beast refuses
  };
  for (const char* bytes : declined) {
    Response out;
    SimpleHead head;
    EXPECT_FALSE(ParseSimpleHead(bytes, &out, &head)) << ::testing::PrintToString(bytes);
  }
  // Larger than kMaxSimpleHead: Beast's.
  const std::string big = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(kMaxSimpleHead, 'b') +
                          "\r\nContent-Length: 1\r\n\r\n";
  Response out;
  SimpleHead head;
  EXPECT_FALSE(ParseSimpleHead(big, &out, &head));
}

TEST(SimpleHeadTest, NeverTakesAHeadBeastReadsOtherwiseUnderRandomMutations) {
  const std::vector<std::string> seeds = {
      "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\n"
      "Content-Length: 12\r\nConnection: keep-alive\r\n\r\n",
      "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\nX-A: 1\r\n\r\n",
      "HTTP/1.1 301 Moved\r\nLocation: /x\r\nContent-Length: 3\r\nx-a:  b\t\r\n\r\n",
  };
  // Bytes that matter to either reader.
  const std::vector<std::string> lines = {
      "Content-Length: 7\r\n",
      "Connection: close\r\n",
      "Connection: Keep-Alive\r\n",
      "Transfer-Encoding: chunked\r\n",
      "Upgrade: h2c\r\n",
      "Proxy-Connection: close\r\n",
      " folded\r\n",
      "X-Dup: 1\r\n",
      "Content-Length: 7, 7\r\n",
      ":\r\n",
      "\r\n",
      "Content-Length: 18446744073709551616\r\n",
  };
  MutateAndCompare(seeds, "HTTP/1.0close-keep-alivechunked", lines, 20261205,
                   [](const std::string& bytes, std::mt19937&) { return Compare(bytes); });
}

// The same for requests: ParseSimpleRequestHead against Beast's request parser with the same
// header limit.
bool CompareRequest(const std::string& bytes, size_t limit) {
  SCOPED_TRACE(::testing::Message()
               << "head: " << ::testing::PrintToString(bytes) << ", limit " << limit);
  Request ours;
  size_t size = 0;
  const bool taken = ParseSimpleRequestHead(bytes, limit, &ours, &size);
  RequestParser beast;
  beast.header_limit(static_cast<uint32_t>(limit));
  beast.eager(true);  // as the session
  boost::beast::error_code ec;
  const size_t used = beast.put(boost::asio::buffer(bytes), ec);
  if (!taken) return false;
  EXPECT_FALSE(ec) << "taken here, refused by Beast: " << ec.message();
  EXPECT_TRUE(beast.is_header_done());
  EXPECT_TRUE(beast.is_done()) << "taken here as bodyless";
  if (ec || !beast.is_done()) return true;
  const Request& theirs = beast.get();
  EXPECT_EQ(size, used);
  EXPECT_EQ(ours.method(), theirs.method());
  EXPECT_EQ(ours.method_string(), theirs.method_string());
  EXPECT_EQ(ours.target(), theirs.target());
  EXPECT_EQ(ours.version(), theirs.version());
  EXPECT_EQ(FieldList(ours), FieldList(theirs));
  EXPECT_EQ(ours.keep_alive(), theirs.keep_alive());
  EXPECT_EQ(ours.keep_alive(), beast.keep_alive());
  EXPECT_EQ(ours.body(), theirs.body());
  return true;
}

TEST(SimpleHeadTest, TakesTheCommonRequestAsBeastReadsIt) {
  const std::string get =
      "GET /products/2?x=%20y HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\n"
      "Accept: */*\r\n\r\n";
  EXPECT_TRUE(CompareRequest(get, 8192));
  EXPECT_TRUE(CompareRequest(get + "GET / HTTP/1.1\r\n", 8192));  // pipelined: not its business
  EXPECT_TRUE(CompareRequest("DELETE * HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 8192));
  EXPECT_TRUE(CompareRequest("OPTIONS / HTTP/1.1\r\nConnection: close\r\nX-A:\r\n\r\n", 8192));
  const char* declined[] = {
      "POST /orders HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",  // a body: Beast's
      "POST /orders HTTP/1.1\r\nContent-Length: 0\r\n\r\n",    // declared, even empty
      "POST /orders HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "GET / HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n",
      "BREW /pot HTTP/1.1\r\n\r\n",         // a method Beast does not name
      "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n",  // obs-text in the target
      "GET  / HTTP/1.1\r\n\r\n",            // empty target
      "GET / HTTP/1.1\r\nHost: a\r\n",      // unfinished
      "GET / HTTP/2.0\r\n\r\n",
      "GET / HTTP/1.1\n\r\n",
  };
  for (const char* bytes : declined) {
    Request out;
    size_t size = 0;
    EXPECT_FALSE(ParseSimpleRequestHead(bytes, 8192, &out, &size))
        << ::testing::PrintToString(bytes);
  }
  // At the header limit: Beast's (looser than this: it applies the limit to the request line
  // and the fields apart).
  Request out;
  size_t size = 0;
  const std::string head = "GET / HTTP/1.1\r\nX: 1\r\n\r\n";
  EXPECT_TRUE(ParseSimpleRequestHead(head, head.size() + 1, &out, &size));
  EXPECT_FALSE(ParseSimpleRequestHead(head, head.size(), &out, &size));
}

TEST(SimpleHeadTest, NeverTakesARequestBeastReadsOtherwiseUnderRandomMutations) {
  const std::vector<std::string> seeds = {
      "GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n",
      "HEAD /a/b?c=d HTTP/1.0\r\nConnection: keep-alive\r\nX-A:  1 \r\n\r\n",
      "DELETE /x HTTP/1.1\r\nConnection: close\r\nx-a: 1\r\nX-A: 2\r\n\r\n",
  };
  const std::vector<std::string> lines = {
      "Content-Length: 0\r\n",
      "Connection: close\r\n",
      "Connection: Keep-Alive\r\n",
      "Transfer-Encoding: chunked\r\n",
      "Upgrade: h2c\r\n",
      " folded\r\n",
      "Expect: 100-continue\r\n",
      ":\r\n",
      "\r\n",
  };
  MutateAndCompare(seeds, "GETPOSTHTTP/1.0close-keep-alive", lines, 20261206,
                   [](const std::string& bytes, std::mt19937& rng) {
                     // The listener's limit, or one at the edge of the head's size.
                     const size_t limit = rng() % 2 == 0 ? 8192 : bytes.size() - 2 + rng() % 5;
                     return CompareRequest(bytes, limit);
                   });
}

}  // namespace
}  // namespace sluice::http
