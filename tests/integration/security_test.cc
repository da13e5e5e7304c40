// Attacks on the gateway's boundaries, reproduced against the real sluice binary (issue 20). Each
// test fails on a gateway without the fix it guards. Backends that misbehave on purpose are
// ScriptedBackends: they write exact bytes no well-behaved server would.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "zlib.h"

namespace sluice::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using Reply = ScriptedBackend::Reply;

std::string Header(const Request& r, const std::string& name) {
  auto it = r.find(name);
  return it == r.end() ? "<absent>" : std::string(it->value());
}

long Ms(steady_clock::duration d) {
  return static_cast<long>(std::chrono::duration_cast<milliseconds>(d).count());
}

std::string Answer(const std::string& status_line, const std::string& body,
                   const std::string& extra_headers = "") {
  return "HTTP/1.1 " + status_line + "\r\nContent-Type: application/json\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// One worker, so every request shares one pool of backend connections: what one client leaves
// on a connection is what the next client would read.
std::string Config(const std::string& endpoints) {
  return R"({"version": 3, "name": "security", "extra_config": {"sluice/http": {"workers": 1},
      "telemetry/logging": {"level": "WARNING"}}, "endpoints": [)" +
         endpoints + "]}";
}

std::string Endpoint(const std::string& path, const std::string& backend_url,
                     const std::string& url_pattern, const std::string& endpoint_extra = "",
                     const std::string& backend_extra = "") {
  return R"({"endpoint": ")" + path + R"(", )" + endpoint_extra + R"( "backend": [{)" +
         backend_extra + R"( "host": [")" + backend_url + R"("], "url_pattern": ")" + url_pattern +
         R"("}]})";
}

std::string NoOp(const std::string& path, const std::string& backend_url,
                 const std::string& url_pattern, const std::string& endpoint_extra = "",
                 const std::string& backend_extra = "") {
  return Endpoint(path, backend_url, url_pattern,
                  R"("output_encoding": "no-op", )" + endpoint_extra,
                  R"("encoding": "no-op", )" + backend_extra);
}

// ---------------------------------------------------------------------------------------------
// 1. One client must never get another client's backend answer.

const std::string kAliceSecret = R"({"secret":"data-of-alice"})";

// Answers /user/NAME with {"user":"NAME"}, and /attack/NAME with `attack` (alice's answer framed
// in some hostile way).
ScriptedBackend::ScriptFn AliceThenBob(std::string attack) {
  return [attack](const Request& req) {
    const std::string target(req.target());
    if (target.rfind("/attack/", 0) == 0) return Reply::Of(attack);
    return Reply::Of(Answer("200 OK", R"({"user":")" + target.substr(6) + R"("})"));
  };
}

// Alice's request, then bob's on other client connections: bob must get his own answer.
void ExpectBobGetsHisOwnAnswer(const std::string& attack, const std::string& what) {
  SCOPED_TRACE(what);
  ScriptedBackend backend(AliceThenBob(attack));
  SluiceProcess gw(Config(Endpoint("/json/attack/{u}", backend.url(), "/attack/{u}") + "," +
                          Endpoint("/json/user/{u}", backend.url(), "/user/{u}")));
  Response alice = Fetch(gw.port(), "GET", "/json/attack/alice");
  for (int i = 0; i < 3; ++i) {
    Response bob = Fetch(gw.port(), "GET", "/json/user/bob");
    EXPECT_EQ(bob.result_int(), 200u);
    EXPECT_EQ(bob.body(), R"({"user":"bob"})");
    EXPECT_EQ(bob.body().find("alice"), std::string::npos) << bob.body();
  }
}

TEST(BackendAnswerTest, EarlyHintsAreSkippedAndTheFinalAnswerGoesToItsClient) {
  ScriptedBackend backend(
      AliceThenBob("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" +
                   Answer("200 OK", kAliceSecret)));
  SluiceProcess gw(Config(Endpoint("/json/early/{u}", backend.url(), "/attack/{u}") + "," +
                          Endpoint("/json/user/{u}", backend.url(), "/user/{u}")));
  Response alice = Fetch(gw.port(), "GET", "/json/early/alice");
  EXPECT_EQ(alice.result_int(), 200u);
  EXPECT_EQ(alice.body(), kAliceSecret);
  Response bob = Fetch(gw.port(), "GET", "/json/user/bob");
  EXPECT_EQ(bob.result_int(), 200u);
  EXPECT_EQ(bob.body(), R"({"user":"bob"})");
}

TEST(BackendAnswerTest, ANoOpEndpointForwardsTheFinalAnswerNotThe103) {
  ScriptedBackend backend([](const Request&) {
    return Reply::Of(
        "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        "HTTP/1.1 100 Continue\r\n\r\n" +
        Answer("200 OK", R"({"final":true})"));
  });
  SluiceProcess gw(Config(NoOp("/raw", backend.url(), "/raw")));
  Response res = Fetch(gw.port(), "GET", "/raw");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"final":true})");
}

TEST(BackendAnswerTest, LeftoverBytesNeverBecomeTheNextClientsAnswer) {
  ExpectBobGetsHisOwnAnswer("HTTP/1.1 204 No Content\r\nContent-Length: " +
                                std::to_string(kAliceSecret.size()) + "\r\n\r\n" + kAliceSecret,
                            "a 204 carrying a body");
  ExpectBobGetsHisOwnAnswer(Answer("200 OK", "{}") + Answer("200 OK", kAliceSecret),
                            "a whole answer after a 200");
  ExpectBobGetsHisOwnAnswer(Answer("200 OK", "{}") + "HTTP/1.1 200 OK\r\nContent-Le",
                            "a partial answer after a 200");
}

TEST(BackendAnswerTest, TooManyInformationalAnswersFailTheCall) {
  ScriptedBackend backend([](const Request&) {
    std::string hints;
    for (int i = 0; i < 6; ++i) hints += "HTTP/1.1 103 Early Hints\r\n\r\n";
    return Reply::Of(hints + Answer("200 OK", "{}"));
  });
  SluiceProcess gw(Config(NoOp("/raw", backend.url(), "/raw")));
  EXPECT_EQ(Fetch(gw.port(), "GET", "/raw").result_int(), 500u);
}

// ---------------------------------------------------------------------------------------------
// 9. HEAD answers (and 204, 304) have no body.

TEST(BackendAnswerTest, HeadBackendIsAnsweredWithoutWaitingForABody) {
  ScriptedBackend backend([](const Request&) {
    return Reply::Of(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20000000000\r\n"
        "X-Seen: yes\r\n\r\n");
  });
  SluiceProcess gw(
      Config(NoOp("/head", backend.url(), "/h", R"("timeout": "3s",)", R"("method": "HEAD",)")));
  HttpClient client(gw.port());
  for (int i = 0; i < 3; ++i) {
    const auto start = steady_clock::now();
    Response res = client.Get("/head");
    EXPECT_EQ(res.result_int(), 200u) << client.error();
    EXPECT_LT(Ms(steady_clock::now() - start), 2800);  // not the 3 s timeout
  }
  ASSERT_EQ(backend.requests().size(), 3u);
  EXPECT_EQ(backend.requests()[0].method_string(), "HEAD");
  // The answers were framed exactly: one connection carried all three.
  EXPECT_EQ(backend.connections(), 1);
}

// ---------------------------------------------------------------------------------------------
// 2. The answer size limit (64 MiB) holds however the body is framed, and the deadline ends a
// call whatever its reads are doing.

constexpr long kMiB = 1024;  // in KiB

// An answer of `total` bytes of 'x' framed by `framing`, written 100,000 bytes at a time. The
// first piece goes in the same write as the head: Beast 1.74 in eager mode lost its body-limit
// error when body bytes came with the head.
Reply BigAnswer(const std::string& framing, uint64_t total) {
  const std::string piece(100000, 'x');
  Reply r;
  r.repeat_count = total / piece.size() - 1;
  if (framing == "content-length") {
    r.bytes = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(total) + "\r\n\r\n";
    r.repeat = piece;
  } else if (framing == "chunked") {
    r.bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    r.repeat = "186a0\r\n" + piece + "\r\n";  // 0x186a0 = 100000
  } else {                                    // until the backend closes
    r.bytes = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
    r.repeat = piece;
    r.close = true;
  }
  r.bytes += r.repeat;
  return r;
}

TEST(BackendAnswerTest, AnswersOverTheSizeLimitAreRefusedWithBoundedMemory) {
  for (const std::string framing : {"content-length", "chunked", "close"}) {
    SCOPED_TRACE(framing);
    ScriptedBackend backend([framing](const Request&) { return BigAnswer(framing, 300000000); });
    SluiceProcess gw(Config(NoOp("/big", backend.url(), "/big", R"("timeout": "20s",)")));
    const long before = PeakRssKiB(gw.pid());
    Response res = Fetch(gw.port(), "GET", "/big");
    EXPECT_EQ(res.result_int(), 500u);
    EXPECT_LT(res.body().size(), 1000u);
    // At most the 64 MiB limit, once more while the string grows, the smaller buffers it
    // outgrew (less than 64 MiB together; the allocator keeps freed memory up to 100 ms,
    // gateway/main.cc) and one read. Measured: 143-144 MiB giving memory back after 5 ms,
    // 159 after 100 ms.
    const long grew = PeakRssKiB(gw.pid()) - before;
    std::cout << framing << ": peak RSS +" << grew / kMiB << " MiB\n";
    EXPECT_LT(grew, 200 * kMiB * kRssAllowanceFactor);
    EXPECT_TRUE(gw.LogHas("larger than the 67108864-byte limit")) << gw.log();
  }
}

// Decoding, shaping and rendering recurse per nesting level: a backend's answer nested deeper
// than kMaxJsonDepth (1,000) is a decode failure, whatever its size; 999 levels decode.
TEST(BackendAnswerTest, JsonNestedPastTheDepthLimitIsADecodeFailure) {
  auto nested = [](int depth) {
    return R"({"a":)" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
  };
  ScriptedBackend backend([&nested](const Request& req) {
    const int depth = req.target() == "/deep" ? 1001 : req.target() == "/deeper" ? 2000000 : 999;
    return Reply::Of(Answer("200 OK", nested(depth)));
  });
  SluiceProcess gw(Config(Endpoint("/deep", backend.url(), "/deep") + "," +
                          Endpoint("/deeper", backend.url(), "/deeper", R"("timeout": "10s",)") +
                          "," + Endpoint("/ok", backend.url(), "/ok")));
  const long before = PeakRssKiB(gw.pid());
  EXPECT_EQ(Fetch(gw.port(), "GET", "/deep").result_int(), 500u);
  EXPECT_EQ(Fetch(gw.port(), "GET", "/deeper").result_int(), 500u);  // 4 MB of brackets
  Response ok = Fetch(gw.port(), "GET", "/ok");
  EXPECT_EQ(ok.result_int(), 200u);
  EXPECT_EQ(ok.body(), nested(999));
  EXPECT_LT(PeakRssKiB(gw.pid()) - before, 64 * kMiB * kRssAllowanceFactor);
  EXPECT_TRUE(gw.LogHas("deeper than 1000")) << gw.log();
}

TEST(BackendAnswerTest, AHugeDeclaredLengthFailsAtOnceWithoutMemory) {
  ScriptedBackend backend([](const Request&) {
    Reply r;
    r.repeat = std::string(1024 * 1024, 'x');
    r.bytes = "HTTP/1.1 200 OK\r\nContent-Length: 20000000000\r\n\r\n" + r.repeat;
    r.repeat_count = 511;  // bounded: 512 MiB at most
    return r;
  });
  SluiceProcess gw(Config(NoOp("/huge", backend.url(), "/huge", R"("timeout": "10s",)")));
  const long before = PeakRssKiB(gw.pid());
  const auto start = steady_clock::now();
  const std::string out =
      RawExchange(gw.port(), "GET /huge HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                  std::chrono::seconds(10));
  EXPECT_EQ(out.rfind("HTTP/1.1 500", 0), 0u) << out.substr(0, 200);
  EXPECT_LT(Ms(steady_clock::now() - start), 8000);  // at the limit, not at the 10 s timeout
  EXPECT_LT(PeakRssKiB(gw.pid()) - before, 64 * kMiB * kRssAllowanceFactor);
  EXPECT_TRUE(Eventually([&] { return backend.cut_short() == 1; }));
}

TEST(BackendAnswerTest, TheDeadlineEndsACallWhoseReadsKeepProgressing) {
  // One body byte every 10 ms, for up to 10 s: every read succeeds, none finishes the answer.
  ScriptedBackend backend([](const Request&) {
    Reply r;
    r.bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    r.repeat = "1\r\nx\r\n";
    r.repeat_count = 1000;
    r.repeat_interval = milliseconds(10);
    return r;
  });
  SluiceProcess gw(Config(NoOp("/drip", backend.url(), "/drip", R"("timeout": "1s",)")));
  const auto start = steady_clock::now();
  const std::string out =
      RawExchange(gw.port(), "GET /drip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                  std::chrono::seconds(12));
  const long took = Ms(steady_clock::now() - start);
  EXPECT_EQ(out.rfind("HTTP/1.1 500", 0), 0u) << out.substr(0, 200);
  EXPECT_GE(took, 950);
  EXPECT_LT(took, 8000);  // not the drip's 10 s
  // The gateway hung up on the backend instead of reading on.
  EXPECT_TRUE(Eventually([&] { return backend.cut_short() == 1; }));
}

// ---------------------------------------------------------------------------------------------
// 6. Redirects: credentials stay with the host they were sent to; only http is followed, at most
// 10 times.

TEST(BackendRedirectTest, CredentialsAreDroppedWhenTheRedirectChangesHostOrPort) {
  ScriptedBackend other(
      [](const Request&) { return Reply::Of(Answer("200 OK", R"({"at":"other"})")); });
  const std::string other_port = std::to_string(other.port());
  ScriptedBackend first([&](const Request& req) {
    const std::string target(req.target());
    std::string location;
    if (target == "/to-port") location = "http://127.0.0.1:" + other_port + "/landing";
    if (target == "/to-authority") location = "//127.0.0.1:" + other_port + "/landing";
    if (target == "/to-self") location = "/landing";
    if (location.empty()) return Reply::Of(Answer("200 OK", R"({"at":"first"})"));
    return Reply::Of("HTTP/1.1 302 Found\r\nLocation: " + location +
                     "\r\nContent-Length: 0\r\n\r\n");
  });
  const std::string forward = R"("input_headers": ["Authorization", "Cookie"],)";
  SluiceProcess gw(Config(Endpoint("/to-port", first.url(), "/to-port", forward) + "," +
                          Endpoint("/to-authority", first.url(), "/to-authority", forward) + "," +
                          Endpoint("/to-self", first.url(), "/to-self", forward)));
  const std::vector<std::pair<std::string, std::string>> credentials = {
      {"Authorization", "Bearer token-of-alice"}, {"Cookie", "session=alice"}};

  for (const std::string path : {"/to-port", "/to-authority"}) {
    SCOPED_TRACE(path);
    Response res = Fetch(gw.port(), "GET", path, credentials);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), R"({"at":"other"})");
    ASSERT_FALSE(other.requests().empty());
    const Request landed = other.requests().back();
    EXPECT_EQ(landed.target(), "/landing");
    EXPECT_EQ(Header(landed, "Host"), "127.0.0.1:" + other_port);
    EXPECT_EQ(Header(landed, "Authorization"), "<absent>");
    EXPECT_EQ(Header(landed, "Cookie"), "<absent>");
  }
  // The first host did get them, and keeps them on a redirect to itself.
  Response res = Fetch(gw.port(), "GET", "/to-self", credentials);
  EXPECT_EQ(res.body(), R"({"at":"first"})");
  const std::vector<Request> seen = first.requests();
  ASSERT_EQ(seen.size(), 4u);
  for (const Request& r : seen) {
    EXPECT_EQ(Header(r, "Authorization"), "Bearer token-of-alice") << r.target();
    EXPECT_EQ(Header(r, "Cookie"), "session=alice") << r.target();
  }
  EXPECT_EQ(seen.back().target(), "/landing");
}

TEST(BackendRedirectTest, RedirectsAreBoundedAndOnlyHttpIsFollowed) {
  ScriptedBackend backend([](const Request& req) {
    const std::string location =
        req.target() == "/ftp" ? "ftp://127.0.0.1/file" : std::string(req.target());
    return Reply::Of("HTTP/1.1 302 Found\r\nLocation: " + location +
                     "\r\nContent-Length: 0\r\n\r\n");
  });
  SluiceProcess gw(
      Config(NoOp("/loop", backend.url(), "/loop") + "," + NoOp("/ftp", backend.url(), "/ftp")));
  Response loop = Fetch(gw.port(), "GET", "/loop");
  EXPECT_EQ(loop.result_int(), 500u);
  EXPECT_EQ(backend.requests().size(), 11u);  // the request and 10 redirects
  EXPECT_TRUE(gw.LogHas("stopped after 10 redirects")) << gw.log();

  // Each followed request names the one before it (Go's client: Referer).
  const auto requests = backend.requests();
  EXPECT_EQ(Header(requests[0], "Referer"), "<absent>");
  EXPECT_EQ(Header(requests[1], "Referer"),
            "http://127.0.0.1:" + std::to_string(backend.port()) + "/loop");

  Response ftp = Fetch(gw.port(), "GET", "/ftp");
  EXPECT_EQ(ftp.result_int(), 302u);
  EXPECT_EQ(backend.requests().size(), 12u);  // not followed
}

// gzip as Go's transport does it: asked for (Accept-Encoding: gzip) when the request names no
// encoding of its own, decompressed before decoding, bounded once decompressed.
std::string Gzip(const std::string& plain) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, plain.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  z.avail_in = static_cast<uInt>(plain.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST(BackendAnswerTest, GzipAnswersAreDecompressedAndBounded) {
  const std::string json = R"({"greeting":"hello","n":[1,2,3]})";
  // 80 MiB of spaces inside a JSON string: ~80 KB compressed, over the 64 MiB answer limit once
  // decompressed (a gzip bomb).
  const std::string bomb = Gzip("{\"a\":\"" + std::string(80u << 20, ' ') + "\"}");
  ASSERT_LT(bomb.size(), 1u << 20);
  ScriptedBackend backend([&](const Request& req) {
    const std::string target(req.target());
    const std::string headers = "Content-Encoding: gzip\r\n";
    if (target == "/json") return Reply::Of(Answer("200 OK", Gzip(json), headers));
    if (target == "/bomb") return Reply::Of(Answer("200 OK", bomb, headers));
    if (target == "/corrupt") return Reply::Of(Answer("200 OK", Gzip(json).substr(0, 20), headers));
    return Reply::Of(Answer("200 OK", Gzip(json), headers));  // /raw
  });
  SluiceProcess gw(
      Config(Endpoint("/json", backend.url(), "/json") + "," +
             Endpoint("/bomb", backend.url(), "/bomb", R"("timeout": "10s",)") + "," +
             Endpoint("/corrupt", backend.url(), "/corrupt") + "," +
             NoOp("/raw", backend.url(), "/raw", R"("input_headers": ["Accept-Encoding"],)") + "," +
             NoOp("/raw-plain", backend.url(), "/raw")));
  Response ok = Fetch(gw.port(), "GET", "/json");
  EXPECT_EQ(ok.result_int(), 200u);
  EXPECT_EQ(ok.body(), json);
  EXPECT_EQ(Header(backend.requests().back(), "Accept-Encoding"), "gzip");

  Response bombed = Fetch(gw.port(), "GET", "/bomb");
  EXPECT_EQ(bombed.result_int(), 500u);
  EXPECT_TRUE(gw.LogHas("once decompressed (gzip)")) << gw.log();
  EXPECT_LT(RssKiB(gw.pid()), 200 * 1024 * kRssAllowanceFactor) << "never held the whole bomb";

  EXPECT_EQ(Fetch(gw.port(), "GET", "/corrupt").result_int(), 500u);
  EXPECT_TRUE(gw.LogHas("gzip answer is corrupt or truncated"));

  // no-op with the client's own Accept-Encoding: the compressed bytes and Content-Encoding pass
  // through untouched, for the client to decompress.
  Response raw = Fetch(gw.port(), "GET", "/raw", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(raw.result_int(), 200u);
  EXPECT_EQ(raw.body(), Gzip(json));
  EXPECT_EQ(std::string(raw["Content-Encoding"]), "gzip");
  // no-op without it: Sluice asked for gzip itself, so it decompresses (as Go's transport).
  Response plain = Fetch(gw.port(), "GET", "/raw-plain");
  EXPECT_EQ(plain.body(), json);
  EXPECT_EQ(plain.find("Content-Encoding"), plain.end());
}

// ---------------------------------------------------------------------------------------------
// 5. Request smuggling: a body length the gateway and a proxy in front of it could read
// differently is refused (RFC 9112 section 6.3).

int CountOf(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST(RequestFramingTest, TransferEncodingOtherThanChunkedIsRefusedAndTheConnectionClosed) {
  TestBackend backend([](const Request& req) {
    return TestBackend::Json(R"({"seen":")" + std::string(req.target()) + R"("})");
  });
  SluiceProcess gw(Config(R"({"endpoint": "/post", "method": "POST", "backend": [{"host": [")" +
                          backend.url() + R"("], "url_pattern": "/post", "method": "POST"}]},)" +
                          Endpoint("/echo/{x}", backend.url(), "/echo/{x}")));
  const std::string smuggled = "GET /echo/SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n";
  struct Case {
    const char* what;
    std::string head;
  } cases[] = {
      {"gzip", "Transfer-Encoding: gzip\r\n"},
      {"chunked then identity", "Transfer-Encoding: chunked, identity\r\n"},
      {"xchunked", "Transfer-Encoding: xchunked\r\n"},
      {"gzip, chunked (a coding the gateway does not decode)",
       "Transfer-Encoding: gzip, chunked\r\n"},
      {"two fields", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"},
      {"gzip and a length",
       "Transfer-Encoding: gzip\r\nContent-Length: " + std::to_string(smuggled.size()) + "\r\n"},
      {"chunked and a length", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string answer =
        RawExchange(gw.port(), "POST /post HTTP/1.1\r\nHost: x\r\n" + c.head + "\r\n" + smuggled);
    EXPECT_EQ(answer.rfind("HTTP/1.1 400 ", 0), 0u) << answer;
    EXPECT_EQ(CountOf(answer, "HTTP/1.1 "), 1) << answer;  // one answer, then the close
  }
  EXPECT_EQ(backend.request_count(), 0u);  // neither the POST nor the smuggled GET went through

  // The framings RFC 9112 defines still work, body and all.
  const std::string chunked = RawExchange(
      gw.port(),
      "POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.rfind("HTTP/1.1 200 ", 0), 0u) << chunked;
  ASSERT_EQ(backend.request_count(), 1u);
  EXPECT_EQ(backend.last_request().body(), "hello");
}

// ---------------------------------------------------------------------------------------------
// 7. `Upgrade: h2c` only as RFC 7540 section 3.2 says; anything else stays HTTP/1.1, so HTTP/2
// cannot be tunnelled past a proxy that forwards Upgrade but does not speak HTTP/2.

TEST(H2cUpgradeTest, OnlyAnUpgradeExactlyAsTheRfcSaysSwitchesProtocols) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"a":1})"); });
  SluiceProcess gw(R"({"version": 3, "use_h2c": true, "extra_config": {"sluice/http":
      {"workers": 1}}, "endpoints": [)" +
                   Endpoint("/a", backend.url(), "/a") + "]}");
  const std::string settings = "AAMAAABkAAQAAP__";  // MAX_CONCURRENT_STREAMS 100, window 65535
  using Headers = std::vector<std::pair<std::string, std::string>>;
  struct Case {
    const char* what;
    Headers headers;
  } refused[] = {
      {"no Connection field", {{"Upgrade", "h2c"}, {"HTTP2-Settings", settings}}},
      {"Connection without HTTP2-Settings",
       {{"Connection", "Upgrade"}, {"Upgrade", "h2c"}, {"HTTP2-Settings", settings}}},
      {"Connection without Upgrade",
       {{"Connection", "HTTP2-Settings"}, {"Upgrade", "h2c"}, {"HTTP2-Settings", settings}}},
      {"empty HTTP2-Settings",
       {{"Connection", "Upgrade, HTTP2-Settings"}, {"Upgrade", "h2c"}, {"HTTP2-Settings", ""}}},
      {"padded HTTP2-Settings",
       {{"Connection", "Upgrade, HTTP2-Settings"},
        {"Upgrade", "h2c"},
        {"HTTP2-Settings", "AAMAAABkAAQAAP__=="}}},
      {"Connection: close",
       {{"Connection", "Upgrade, HTTP2-Settings, close"},
        {"Upgrade", "h2c"},
        {"HTTP2-Settings", settings}}},
      {"ENABLE_PUSH 2",
       {{"Connection", "Upgrade, HTTP2-Settings"},
        {"Upgrade", "h2c"},
        {"HTTP2-Settings", "AAIAAAAC"}}},
  };
  for (const Case& c : refused) {
    SCOPED_TRACE(c.what);
    Response r = Fetch(gw.port(), "GET", "/a", c.headers);
    EXPECT_EQ(r.result_int(), 200u);  // served over HTTP/1.1, not 101 Switching Protocols
    EXPECT_EQ(r.body(), R"({"a":1})");
  }
  // The request RFC 7540 section 3.2 describes does switch.
  Response upgraded = Fetch(gw.port(), "GET", "/a",
                            {{"Connection", "Upgrade, HTTP2-Settings"},
                             {"Upgrade", "h2c"},
                             {"HTTP2-Settings", settings}});
  EXPECT_EQ(upgraded.result_int(), 101u);
}

// ---------------------------------------------------------------------------------------------
// 8. Client connections are bounded: at the limit new ones wait in the kernel's backlog, and are
// served (not lost) once one closes.

TEST(ConnectionLimitTest, AtTheLimitNewConnectionsWaitAndAreServedWhenOneCloses) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"a":1})"); });
  SluiceProcess gw(R"({"version": 3, "extra_config": {"sluice/http": {"workers": 1,
      "max_connections": 4}}, "endpoints": [)" +
                   Endpoint("/a", backend.url(), "/a") + "]}");
  boost::asio::io_context ioc;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::socket>> idle;
  const boost::asio::ip::tcp::endpoint gateway(boost::asio::ip::make_address("127.0.0.1"),
                                               gw.port());
  for (int i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<boost::asio::ip::tcp::socket>(ioc));
    idle.back()->connect(gateway);
  }
  ASSERT_TRUE(Eventually([&] { return gw.log().find("the limit") != std::string::npos; }))
      << gw.log();

  auto started = steady_clock::now();
  std::thread fifth([&] {
    Response r = Fetch(gw.port(), "GET", "/a");
    EXPECT_EQ(r.result_int(), 200u);
    EXPECT_EQ(r.body(), R"({"a":1})");
  });
  std::this_thread::sleep_for(milliseconds(700));
  EXPECT_EQ(backend.request_count(), 0u);  // the fifth connection waits: not accepted yet
  idle.front()->close();
  fifth.join();
  EXPECT_GE(Ms(steady_clock::now() - started), 700);
  EXPECT_EQ(backend.request_count(), 1u);
}

// 100,000 connections opened and dropped as fast as one client can (each from another of
// 127.0.0.2-251, reset on close so none waits in TIME_WAIT) against max_connections 256: the
// acceptor pauses at the limit, memory stays bounded, and a client that comes afterwards is
// served.
TEST(ConnectionLimitTest, AHundredThousandConnectionAttemptsLeaveMemoryBoundedAndServiceUp) {
  TestBackend backend([](const Request&) { return TestBackend::Json(R"({"a":1})"); });
  SluiceProcess gw(R"({"version": 3, "extra_config": {"sluice/http": {"workers": 1,
      "max_connections": 256}, "telemetry/logging": {"level": "WARNING"}}, "endpoints": [)" +
                   Endpoint("/a", backend.url(), "/a") + "]}");
  const long before = PeakRssKiB(gw.pid());
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(gw.port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  constexpr int kAttempts = 100000;
  constexpr size_t kOpenAtOnce = 512;
  std::vector<int> open;
  int connected = 0;
  auto drop = [](int fd) {
    const linger reset{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(fd);
  };
  const auto start = steady_clock::now();
  for (int i = 0; i < kAttempts; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd, 0);
    const int on = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on));
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + (i % 250));
    bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from));
    if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0 || errno == EINPROGRESS) {
      ++connected;
    }
    open.push_back(fd);
    if (open.size() == kOpenAtOnce) {
      for (int f : open) drop(f);
      open.clear();
    }
  }
  for (int f : open) drop(f);
  open.clear();
  std::cerr << kAttempts << " connection attempts (" << connected << " started) in "
            << Ms(steady_clock::now() - start) << " ms; peak RSS +"
            << (PeakRssKiB(gw.pid()) - before) << " KiB\n";
  EXPECT_GT(connected, kAttempts / 2);
  // The storm's connections are reset as soon as they open, so whether 256 of them were ever
  // open in the gateway at once depends on timing (under ASan they were not): 300 held open
  // reach the limit for certain.
  for (int i = 0; i < 300; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd, 0);
    connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    open.push_back(fd);
  }
  EXPECT_TRUE(Eventually([&] { return gw.log().find("the limit") != std::string::npos; },
                         milliseconds(10000)))
      << gw.log();
  for (int f : open) drop(f);
  EXPECT_TRUE(Eventually([&] { return Fetch(gw.port(), "GET", "/a").result_int() == 200; },
                         milliseconds(10000)))
      << gw.log();
  EXPECT_LT(PeakRssKiB(gw.pid()) - before, 32 * kMiB * kRssAllowanceFactor);
}

}  // namespace
}  // namespace sluice::testing
