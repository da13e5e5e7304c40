// http/readiness against Asio's own reactor, on a real TCP connection on 127.0.0.1: what it
// reports, and that a read started after MarkDrained waits without a recv() and still completes
// when bytes or a close arrive. The private state it reads is Boost 1.74's; were it read at the
// wrong place, these answers would be wrong or a read would hang (each run is bounded by 2 s).

#include "gateway/http/readiness.h"

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/write.hpp"
#include "gtest/gtest.h"

namespace sluice::http {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// One connection: `ours` on the io_context under test, `peer` written to by the test directly.
class ReadinessTest : public ::testing::Test {
 protected:
  ReadinessTest() {
    tcp::acceptor acceptor(peer_ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    ours_.connect(acceptor.local_endpoint());
    acceptor.accept(peer_);
  }

  struct Read {
    boost::system::error_code ec;
    std::string bytes;
  };

  // Starts a read of at most `size` bytes on `ours_`; its result lands in `read_`.
  void StartRead(std::size_t size = sizeof(buffer_)) {
    read_.reset();
    ours_.async_read_some(asio::buffer(buffer_, size),
                          [this](boost::system::error_code ec, std::size_t n) {
                            read_ = Read{ec, std::string(buffer_, n)};
                          });
  }

  // Runs the loop until the read completed, or for `limit`.
  void RunLoop(std::chrono::milliseconds limit = std::chrono::milliseconds(2000)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    ioc_.restart();
    while (!read_ && std::chrono::steady_clock::now() < end) {
      ioc_.run_one_for(std::chrono::milliseconds(10));
    }
  }

  // Lets the loop wait in epoll for 50 ms (on a timer) without a read pending on the socket.
  void LetTheLoopLook() {
    asio::steady_timer timer(ioc_, std::chrono::milliseconds(50));
    timer.async_wait([](boost::system::error_code) {});
    ioc_.restart();
    ioc_.run();
  }

  // Two short reads that waited, each noted as the session and the client note them: the first
  // asks epoll to report closes, the second marks the socket drained. Whether it is marked.
  bool DrainedByShortReads() {
    for (const std::string bytes : {"first", "second"}) {
      StartRead();
      PeerWrites(bytes);
      RunLoop();
      if (!read_ || read_->bytes != bytes) return false;
      NoteShortRead(ours_);
    }
    return !MayHaveBytes(ours_);
  }

  // On a drained socket, a read that waits while the peer does `peer_acts` (everything it sends
  // is in our socket before the loop looks) and comes back with `first` alone; then the short
  // read is noted, the socket must not count as drained, and the next read runs (read_).
  void ShortReadNotDrainedThenNext(const std::function<void()>& peer_acts,
                                   const std::string& first) {
    ASSERT_TRUE(DrainedByShortReads());
    StartRead();
    ASSERT_TRUE(ReadWaits(ours_));
    peer_acts();
    RunLoop();
    ASSERT_TRUE(read_);
    EXPECT_EQ(read_->bytes, first);
    NoteShortRead(ours_);
    EXPECT_TRUE(MayHaveBytes(ours_));
    StartRead();
    RunLoop();
  }

  void PeerWrites(const std::string& bytes) { asio::write(peer_, asio::buffer(bytes)); }

  asio::io_context ioc_{1};
  asio::io_context peer_ioc_;
  Socket ours_{ioc_.get_executor()};
  tcp::socket peer_{peer_ioc_};
  char buffer_[64];
  std::optional<Read> read_;
};

TEST_F(ReadinessTest, ANewSocketMayHaveBytes) {
  EXPECT_TRUE(MayHaveBytes(ours_));
  // Asio tries recv() first: it finds nothing, and the read then waits.
  StartRead();
  EXPECT_TRUE(ReadWaits(ours_));
  PeerWrites("hello");
  RunLoop();
  ASSERT_TRUE(read_);
  EXPECT_EQ(read_->bytes, "hello");
}

TEST_F(ReadinessTest, AReadOnADrainedSocketWaitsAndCompletesWhenBytesArrive) {
  MarkDrained(ours_);
  EXPECT_FALSE(MayHaveBytes(ours_));
  StartRead();
  EXPECT_TRUE(ReadWaits(ours_));
  EXPECT_FALSE(read_);
  PeerWrites("abc");
  RunLoop();
  ASSERT_TRUE(read_);
  EXPECT_FALSE(read_->ec);
  EXPECT_EQ(read_->bytes, "abc");
  EXPECT_FALSE(ReadWaits(ours_));
}

TEST_F(ReadinessTest, AReadOnADrainedSocketCompletesWhenThePeerCloses) {
  MarkDrained(ours_);
  StartRead();
  EXPECT_TRUE(ReadWaits(ours_));
  peer_.close();
  RunLoop();
  ASSERT_TRUE(read_);
  EXPECT_EQ(read_->ec, asio::error::eof);
}

// Bytes arriving while no read is pending (a client's next request while the last is answered):
// the loop sees their edge, MayHaveBytes is true again, and the next read takes them at once.
TEST_F(ReadinessTest, BytesTheLoopSawWithoutAReadUndoMarkDrained) {
  MarkDrained(ours_);
  PeerWrites("next");
  LetTheLoopLook();
  EXPECT_TRUE(MayHaveBytes(ours_));
  StartRead();
  EXPECT_FALSE(ReadWaits(ours_));  // completed at once: the handler is queued
  RunLoop();
  ASSERT_TRUE(read_);
  EXPECT_EQ(read_->bytes, "next");
}

TEST_F(ReadinessTest, ACloseTheLoopSawWithoutAReadUndoesMarkDrained) {
  MarkDrained(ours_);
  peer_.close();
  LetTheLoopLook();
  EXPECT_TRUE(MayHaveBytes(ours_));
  StartRead();
  RunLoop();
  ASSERT_TRUE(read_);
  EXPECT_EQ(read_->ec, asio::error::eof);
}

// The pattern the session and the REST client follow: a read that waited and came back short
// calls NoteShortRead in its handler. The first call only has epoll report closes from then on;
// later ones mark the socket drained, so the next read waits without a recv(); bytes written
// while no read was pending still arrive; after a read that did not wait, Asio's recv() finds the
// socket empty and the next read waits again.
TEST_F(ReadinessTest, AShortReadThatWaitedMarksTheSocketDrained) {
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE(round);
    StartRead();
    ASSERT_TRUE(ReadWaits(ours_));
    PeerWrites("round " + std::to_string(round));
    RunLoop();
    ASSERT_TRUE(read_);
    EXPECT_EQ(read_->bytes, "round " + std::to_string(round));
    NoteShortRead(ours_);
    EXPECT_EQ(MayHaveBytes(ours_), round == 0);  // the first call asks for closes, no more
    if (round == 2) {                            // the peer writes before the next read is started
      PeerWrites("early");
      LetTheLoopLook();
      EXPECT_TRUE(MayHaveBytes(ours_));
      StartRead();
      EXPECT_FALSE(ReadWaits(ours_));
      RunLoop();
      ASSERT_TRUE(read_);
      EXPECT_EQ(read_->bytes, "early");  // this read did not wait: no NoteShortRead after it
    }
  }
}

// The peer's last bytes and its close reported by one edge: recv() returns the bytes and says
// nothing of the close. The socket is not marked drained, and the next read sees the close at
// once (marked drained, it would wait for an edge that never comes).
TEST_F(ReadinessTest, AShortReadWhoseEdgeAlsoBroughtTheCloseIsNotDrained) {
  ShortReadNotDrainedThenNext(
      [this] {
        PeerWrites("last");
        peer_.close();
      },
      "last");
  if (HasFatalFailure()) return;
  ASSERT_TRUE(read_) << "the close was lost";
  EXPECT_EQ(read_->ec, asio::error::eof);
}

// Urgent data: recv() stops at the urgent mark once it has copied something, so a short read
// leaves the bytes behind the mark; the edge says EPOLLPRI and the socket is not marked drained.
TEST_F(ReadinessTest, AShortReadStoppedAtUrgentDataIsNotDrained) {
  ShortReadNotDrainedThenNext(
      [this] {
        PeerWrites("head");
        peer_.send(asio::buffer("!", 1), tcp::socket::message_out_of_band);
        PeerWrites("tail");
      },
      "head");
  if (HasFatalFailure()) return;
  ASSERT_TRUE(read_) << "the bytes behind the urgent mark were not read";
  EXPECT_EQ(read_->bytes, "tail");
}

// A read that fills its buffer leaves bytes in the kernel: Asio tries recv() first next time,
// which is why a full read never marks the socket drained.
TEST_F(ReadinessTest, AFullReadLeavesTheRestToTheNextRead) {
  MarkDrained(ours_);
  StartRead(4);
  ASSERT_TRUE(ReadWaits(ours_));
  PeerWrites("abcdefgh");
  RunLoop();
  ASSERT_TRUE(read_);
  EXPECT_EQ(read_->bytes, "abcd");
  EXPECT_TRUE(MayHaveBytes(ours_));
  StartRead();
  EXPECT_FALSE(ReadWaits(ours_));
  RunLoop();
  ASSERT_TRUE(read_);
  EXPECT_EQ(read_->bytes, "efgh");
}

TEST_F(ReadinessTest, AClosedSocketMayHaveBytesAndNothingWaits) {
  ours_.close();
  MarkDrained(ours_);  // no effect, no crash
  EXPECT_TRUE(MayHaveBytes(ours_));
  EXPECT_FALSE(ReadWaits(ours_));
}

}  // namespace
}  // namespace sluice::http
