// http/tls_stream on real sockets on 127.0.0.1. OpenSSL keeps the socket's number from the
// stream's start: once the stream's socket is closed, no read or write may reach whatever
// connection has taken that number since (each run is bounded by 2 s).

#include "gateway/http/tls_stream.h"

#include <chrono>
#include <optional>
#include <string>

#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl/context.hpp"
#include "boost/asio/write.hpp"
#include "gtest/gtest.h"

namespace sluice::http {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A connection: `ours` on `ioc`, `peer` its other end.
struct Connection {
  Connection(asio::io_context& ioc, asio::io_context& peer_ioc) : ours(ioc), peer(peer_ioc) {
    tcp::acceptor acceptor(peer_ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    ours.connect(acceptor.local_endpoint());
    acceptor.accept(peer);
  }
  Socket ours;
  tcp::socket peer;
};

struct Result {
  boost::system::error_code ec;
  std::size_t bytes = 0;
};

class TlsStreamTest : public ::testing::TestWithParam<bool> {
 protected:
  // Runs the loop until `done` holds a result, or for 2 s.
  void RunUntil(const std::optional<Result>& done) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(2000);
    ioc_.restart();
    while (!done && std::chrono::steady_clock::now() < end) {
      ioc_.run_one_for(std::chrono::milliseconds(10));
    }
  }

  asio::io_context ioc_;
  asio::io_context peer_ioc_;
  asio::ssl::context context_{asio::ssl::context::tls_server};
};

// A read (false) or a write (true) started after the stream's socket was closed, while a new
// connection holds its number.
TEST_P(TlsStreamTest, AClosedStreamLeavesTheSocketNumberAlone) {
  const bool write = GetParam();
  Connection first(ioc_, peer_ioc_);
  TlsServerStream stream(std::move(first.ours), context_);
  const int number = stream.next_layer().native_handle();
  stream.next_layer().close();
  Connection second(ioc_, peer_ioc_);  // socket() takes the lowest free number
  ASSERT_EQ(second.ours.native_handle(), number) << "the number went elsewhere; nothing to test";
  asio::write(second.peer, asio::buffer(std::string("unrelated bytes")));

  std::optional<Result> done;
  char buffer[64];
  auto complete = [&done](boost::system::error_code ec, std::size_t n) { done = Result{ec, n}; };
  if (write) {
    stream.async_write_some(asio::buffer(std::string_view("a record")), complete);
  } else {
    stream.async_read_some(asio::buffer(buffer), complete);
  }
  EXPECT_FALSE(done) << "a handler ran inside the call that started it";
  RunUntil(done);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->ec, asio::error::operation_aborted) << done->ec.message();
  EXPECT_EQ(done->bytes, 0u);

  // The new connection's bytes are all still its own, and nothing was written to its peer.
  second.ours.non_blocking(true);
  boost::system::error_code ec;
  const std::size_t n = second.ours.read_some(asio::buffer(buffer), ec);
  EXPECT_EQ(std::string(buffer, ec ? 0 : n), "unrelated bytes") << ec.message();
  second.peer.non_blocking(true);
  second.peer.read_some(asio::buffer(buffer), ec);
  EXPECT_EQ(ec, asio::error::would_block);
}

INSTANTIATE_TEST_SUITE_P(ReadAndWrite, TlsStreamTest, ::testing::Bool());

}  // namespace
}  // namespace sluice::http
