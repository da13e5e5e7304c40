#include "gateway/http/wire.h"

#include <string>

#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"
#include "gtest/gtest.h"

namespace sluice::http {
namespace {

namespace bhttp = boost::beast::http;

TEST(WireTest, ResponseHeadKeepsFieldOrderAndEndsWithABlankLine) {
  Response response(bhttp::status::ok, 11);
  response.set(bhttp::field::content_type, "application/json");
  response.insert("X-Custom", "a");
  response.insert("X-Custom", "b, c");
  response.set(bhttp::field::content_length, "2");
  std::string out = "kept:";
  AppendResponseHead(response, &out);
  EXPECT_EQ(out,
            "kept:HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Custom: a\r\n"
            "X-Custom: b, c\r\nContent-Length: 2\r\n\r\n");
}

TEST(WireTest, ResponseStatusWithoutAKnownReason) {
  Response response;
  response.result(299);
  std::string out;
  AppendResponseHead(response, &out);
  EXPECT_EQ(out, "HTTP/1.1 299 Unknown\r\n\r\n");

  response.result(bhttp::status::not_found);
  response.reason("Nowhere");
  out.clear();
  AppendResponseHead(response, &out);
  EXPECT_EQ(out, "HTTP/1.1 404 Nowhere\r\n\r\n");
}

TEST(WireTest, RequestHead) {
  Request request(bhttp::verb::post, "/a/b?c=d", 11);
  request.set(bhttp::field::host, "127.0.0.1:8080");
  request.set(bhttp::field::accept_encoding, "gzip");
  std::string out;
  AppendRequestHead(request, &out);
  EXPECT_EQ(out, "POST /a/b?c=d HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept-Encoding: gzip\r\n\r\n");

  Request custom;
  custom.method_string("PURGE");
  custom.target("*");
  out = "x";
  AppendRequestHead(custom, &out);
  EXPECT_EQ(out, "xPURGE * HTTP/1.1\r\n\r\n");
}

}  // namespace
}  // namespace sluice::http
