// The H2Client's contract with its callers (gateway/backend/grpc/h2_client.h), in-process against
// the scripted HTTP/2 gRPC backend (tests/integration/grpc_scripted_backend.py, python3-h2) on
// 127.0.0.1: `done` runs exactly once and never inside Call, deadlines end calls, Close cancels
// the calls in flight and every later one, and many calls share the worker's connection. What a
// client of the gateway sees of each backend behaviour is in tests/integration/grpc_test.cc.

#include "gateway/backend/grpc/h2_client.h"

#include <chrono>
#include <string>
#include <vector>

#include "boost/asio/io_context.hpp"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace sluice::backend::grpc {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr int kOk = 0;
constexpr int kCancelled = 1;
constexpr int kDeadlineExceeded = 4;
constexpr int kUnavailable = 14;

config::HostAddress Local(uint16_t port) {
  config::HostAddress host;
  host.host = "127.0.0.1";
  host.port = port;
  return host;
}

std::string Empty() {
  return FramedMessage(0, [](char*) {});
}

class H2ClientTest : public ::testing::Test {
 protected:
  H2ClientTest()
      : backend_("tests/integration/grpc_scripted_backend.py", {}, "listening on ([0-9]+)"),
        client_(ioc_, nullptr) {
    slot_ = client_.RegisterHost(Local(backend_.port()));
  }

  // Starts a call in `mode` on the host in `slot` (default: the scripted backend); its reply
  // lands in `replies_`, and `runs` counts how often its done ran.
  void Start(const std::string& mode, milliseconds timeout, size_t* runs, int slot = -1) {
    client_.Call(slot < 0 ? slot_ : slot, "/shop.Shop/GetProduct", {{"x-mode", mode}}, Empty(),
                 steady_clock::now() + timeout, [this, runs](UnaryReply&& reply) {
                   ++*runs;
                   replies_.push_back(std::move(reply));
                 });
  }
  // Runs the loop until `n` replies arrived or `limit` passed.
  void RunUntil(size_t n, milliseconds limit) {
    const auto end = steady_clock::now() + limit;
    while (replies_.size() < n && steady_clock::now() < end) {
      ioc_.restart();
      ioc_.run_for(milliseconds(10));
    }
  }

  sluice::testing::ServerProcess backend_;
  boost::asio::io_context ioc_;
  H2Client client_;
  int slot_ = 0;
  std::vector<UnaryReply> replies_;
};

TEST_F(H2ClientTest, DoneRunsOnceLaterOnTheLoopNeverInsideCall) {
  size_t runs = 0;
  Start("ok", milliseconds(3000), &runs);
  EXPECT_EQ(runs, 0u) << "never inside Call";
  RunUntil(1, milliseconds(3000));
  ASSERT_EQ(runs, 1u);
  EXPECT_EQ(replies_[0].code, kOk) << replies_[0].message;
  EXPECT_EQ(replies_[0].payload, "");  // the empty reply message, without its 5-byte prefix
  // A host nobody listens on fails at once, and still later, not inside Call.
  const int closed = client_.RegisterHost(Local(sluice::testing::FreePort()));
  size_t failed_runs = 0;
  Start("ok", milliseconds(3000), &failed_runs, closed);
  EXPECT_EQ(failed_runs, 0u);
  RunUntil(2, milliseconds(3000));
  ASSERT_EQ(failed_runs, 1u);
  EXPECT_EQ(replies_[1].code, kUnavailable);
  // During the backoff the next call fails too, again on the loop, not inside Call.
  Start("ok", milliseconds(3000), &failed_runs, closed);
  EXPECT_EQ(failed_runs, 1u);
  RunUntil(3, milliseconds(1000));
  EXPECT_EQ(failed_runs, 2u);
  EXPECT_EQ(replies_[2].code, kUnavailable);
}

TEST_F(H2ClientTest, ADeadlineEndsACallTheBackendNeverAnswers) {
  size_t runs = 0;
  const auto start = steady_clock::now();
  Start("hang", milliseconds(200), &runs);
  RunUntil(1, milliseconds(3000));
  ASSERT_EQ(runs, 1u);
  EXPECT_EQ(replies_[0].code, kDeadlineExceeded);
  EXPECT_GE(steady_clock::now() - start, milliseconds(200));
  EXPECT_LT(steady_clock::now() - start, milliseconds(2500));
  // The connection serves the next call (its stream was reset, not the connection).
  Start("ok", milliseconds(3000), &runs);
  RunUntil(2, milliseconds(3000));
  ASSERT_EQ(runs, 2u);
  EXPECT_EQ(replies_[1].code, kOk);
}

TEST_F(H2ClientTest, CloseCancelsTheCallsInFlightAndEveryLaterOne) {
  std::vector<size_t> runs(4, 0);
  Start("ok", milliseconds(3000), &runs[3]);  // the connection is up: the next calls go out
  RunUntil(1, milliseconds(3000));
  ASSERT_EQ(runs[3], 1u);
  replies_.clear();
  Start("hang", milliseconds(10000), &runs[0]);
  Start("hang", milliseconds(10000), &runs[1]);
  RunUntil(1, milliseconds(300));  // both on the wire, unanswered
  ASSERT_TRUE(replies_.empty());
  client_.Close();
  EXPECT_EQ(runs[0], 1u);
  EXPECT_EQ(runs[1], 1u);
  ASSERT_EQ(replies_.size(), 2u);
  for (const UnaryReply& reply : replies_) {
    EXPECT_EQ(reply.code, kCancelled);
    EXPECT_EQ(reply.message, "the gateway is shutting down");
  }
  Start("ok", milliseconds(3000), &runs[2]);
  EXPECT_EQ(runs[2], 0u);
  RunUntil(3, milliseconds(1000));
  ASSERT_EQ(runs[2], 1u);
  EXPECT_EQ(replies_[2].code, kCancelled);
  ioc_.restart();
  ioc_.run_for(milliseconds(100));
  EXPECT_EQ(runs[0] + runs[1], 2u) << "nothing ran twice";
}

// A call over the backend's SETTINGS_MAX_CONCURRENT_STREAMS waits for a stream, and tells the
// backend the time it has left when its stream starts, not when it was made.
TEST_F(H2ClientTest, CallsOverTheStreamLimitWaitAndSendTheTimeLeft) {
  sluice::testing::ServerProcess narrow("tests/integration/grpc_scripted_backend.py",
                                        {"--max-streams", "1"}, "listening on ([0-9]+)");
  const int slot = client_.RegisterHost(Local(narrow.port()));
  size_t runs = 0;
  Start("ok", milliseconds(3000), &runs, slot);  // connected, the backend's SETTINGS known
  RunUntil(1, milliseconds(3000));
  ASSERT_EQ(runs, 1u);
  ASSERT_EQ(replies_[0].code, kOk) << replies_[0].message;
  // The hanging call holds the only stream until its deadline resets it, 1.5 s from now: the
  // second call cannot start before, so about 3.5 s of its 5 s are left then (sent at submit
  // instead: 5 s).
  Start("hang", milliseconds(1500), &runs, slot);
  Start("timeout", milliseconds(5000), &runs, slot);
  RunUntil(3, milliseconds(10000));
  ASSERT_EQ(runs, 3u);
  EXPECT_EQ(replies_[1].code, kDeadlineExceeded);
  ASSERT_EQ(replies_[2].code, 3) << replies_[2].message;
  const std::string& sent = replies_[2].message;  // "<n>m"
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.back(), 'm');
  EXPECT_LT(std::stol(sent.substr(0, sent.size() - 1)), 4000) << sent;
}

TEST_F(H2ClientTest, ManyCallsInFlightAllAnswered) {
  constexpr int kCalls = 300;
  std::vector<size_t> runs(kCalls, 0);
  for (int i = 0; i < kCalls; ++i)
    Start(i % 3 == 0 ? "message" : "ok", milliseconds(5000), &runs[i]);
  RunUntil(kCalls, milliseconds(10000));
  ASSERT_EQ(replies_.size(), static_cast<size_t>(kCalls));
  int ok = 0;
  int failed = 0;
  for (const UnaryReply& reply : replies_) (reply.code == kOk ? ok : failed)++;
  EXPECT_EQ(ok, 200);
  EXPECT_EQ(failed, 100);
  for (size_t r : runs) EXPECT_EQ(r, 1u);
}

}  // namespace
}  // namespace sluice::backend::grpc
