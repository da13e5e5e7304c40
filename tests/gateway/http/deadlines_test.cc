#include "gateway/http/deadlines.h"

#include <chrono>
#include <memory>
#include <vector>

#include "boost/asio/io_context.hpp"
#include "boost/asio/post.hpp"
#include "gtest/gtest.h"

namespace sluice::http {
namespace {

using Clock = Deadlines::Clock;
using std::chrono::milliseconds;

class DeadlinesTest : public ::testing::Test {
 protected:
  // Runs the io_context until nothing is left to do (no armed entry keeps the timer waiting).
  void Run() { ioc_.run(); }

  boost::asio::io_context ioc_{1};
  Deadlines& deadlines_ = Deadlines::Of(ioc_);
};

TEST_F(DeadlinesTest, OneServicePerContext) {
  EXPECT_EQ(&Deadlines::Of(ioc_), &deadlines_);
  boost::asio::io_context other{1};
  EXPECT_NE(&Deadlines::Of(other), &deadlines_);
}

TEST_F(DeadlinesTest, FiresAtItsTimeNeverEarlyAndAtMostOneResolutionLate) {
  std::vector<Clock::time_point> fired(3);
  const Clock::time_point start = Clock::now();
  const std::vector<milliseconds> after = {milliseconds(30), milliseconds(5), milliseconds(61)};
  std::vector<std::unique_ptr<Deadlines::Entry>> entries;
  for (size_t i = 0; i < after.size(); ++i) {
    entries.push_back(
        std::make_unique<Deadlines::Entry>(deadlines_, [&fired, i] { fired[i] = Clock::now(); }));
    entries.back()->Arm(start + after[i]);
  }
  EXPECT_EQ(deadlines_.armed(), 3);
  Run();
  EXPECT_EQ(deadlines_.armed(), 0);
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_GE(fired[i], start + after[i]) << i;
    // One resolution, plus room for a loaded test machine's scheduling.
    EXPECT_LT(fired[i], start + after[i] + Deadlines::kResolution + milliseconds(200)) << i;
    EXPECT_FALSE(entries[i]->armed());
  }
  EXPECT_LT(fired[1], fired[0]);
  EXPECT_LT(fired[0], fired[2]);
}

TEST_F(DeadlinesTest, DisarmedAndDestroyedEntriesDoNotFire) {
  int fired = 0;
  Deadlines::Entry kept(deadlines_, [&] { ++fired; });
  Deadlines::Entry disarmed(deadlines_, [&] { fired += 100; });
  auto destroyed = std::make_unique<Deadlines::Entry>(deadlines_, [&] { fired += 1000; });
  kept.ArmAfter(milliseconds(20));
  disarmed.ArmAfter(milliseconds(10));
  destroyed->ArmAfter(milliseconds(10));
  disarmed.Disarm();
  destroyed.reset();
  EXPECT_EQ(deadlines_.armed(), 1);
  Run();
  EXPECT_EQ(fired, 1);
}

TEST_F(DeadlinesTest, RearmingMovesTheDeadlineBothWays) {
  Clock::time_point fired_early{}, fired_late{};
  const Clock::time_point start = Clock::now();
  Deadlines::Entry early(deadlines_, [&] { fired_early = Clock::now(); });
  Deadlines::Entry late(deadlines_, [&] { fired_late = Clock::now(); });
  early.Arm(start + milliseconds(500));
  early.Arm(start + milliseconds(10));  // earlier: the timer must wake sooner than it planned
  late.Arm(start + milliseconds(10));
  late.Arm(start + milliseconds(80));  // later: must not fire at 10 ms
  Run();
  EXPECT_GE(fired_early, start + milliseconds(10));
  EXPECT_LT(fired_early, start + milliseconds(400));
  EXPECT_GE(fired_late, start + milliseconds(80));
}

TEST_F(DeadlinesTest, CallbacksMayDisarmArmAndDestroyOtherEntries) {
  // Both are due in the same sweep; whichever runs first disarms the other or, for `b`,
  // re-arms itself once. Exactly one of the two disarm-races fires, and `b` fires twice at most.
  int a_fired = 0, b_fired = 0, c_fired = 0;
  std::unique_ptr<Deadlines::Entry> c;
  Deadlines::Entry b(deadlines_, [&] {
    if (++b_fired == 1) b.ArmAfter(milliseconds(5));
  });
  Deadlines::Entry a(deadlines_, [&] {
    ++a_fired;
    c.reset();  // destroyed while it may be waiting in the same sweep's due list
  });
  c = std::make_unique<Deadlines::Entry>(deadlines_, [&] { ++c_fired; });
  const Clock::time_point when = Clock::now() + milliseconds(8);
  c->Arm(when);
  a.Arm(when);
  b.Arm(when);
  Run();
  EXPECT_EQ(a_fired, 1);
  EXPECT_EQ(b_fired, 2);
  EXPECT_LE(c_fired, 1);  // fired only if its turn in the sweep came before a's
  EXPECT_EQ(deadlines_.armed(), 0);
}

TEST_F(DeadlinesTest, APassedDeadlineFiresAtTheNextSweep) {
  bool fired = false;
  Deadlines::Entry e(deadlines_, [&] { fired = true; });
  e.Arm(Clock::now() - std::chrono::seconds(10));
  Run();
  EXPECT_TRUE(fired);
}

TEST_F(DeadlinesTest, ADeadlineBeyondTheWheelWaitsForItsTurn) {
  // Past kSlots * kResolution ahead, the entry shares a slot with ticks a turn earlier; the
  // sweep of that slot (about 0.2 s from now) must pass it over.
  const auto horizon = Deadlines::kSlots * Deadlines::kResolution;
  const Clock::time_point start = Clock::now();
  const Clock::time_point when = start + horizon + milliseconds(200);
  Clock::time_point fired{};
  Deadlines::Entry e(deadlines_, [&] { fired = Clock::now(); });
  e.Arm(when);
  Run();
  EXPECT_GE(fired, when);
  EXPECT_LT(fired, when + milliseconds(500));
}

TEST_F(DeadlinesTest, NeverIsArmedWithoutOverflowAndDoesNotFire) {
  bool fired = false;
  Deadlines::Entry never(deadlines_, [&] { fired = true; });
  never.Arm(Clock::time_point::max());
  EXPECT_TRUE(never.armed());
  ioc_.run_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(fired);
  EXPECT_TRUE(never.armed());
}

TEST_F(DeadlinesTest, EntriesOutlivingTheirContextAreHarmless) {
  auto ioc = std::make_unique<boost::asio::io_context>(1);
  Deadlines::Entry e(Deadlines::Of(*ioc), [] { FAIL() << "fired after its context was gone"; });
  e.ArmAfter(std::chrono::seconds(1));
  ioc.reset();
  EXPECT_FALSE(e.armed());
  e.ArmAfter(std::chrono::seconds(1));  // ignored, no crash
  EXPECT_FALSE(e.armed());
}

}  // namespace
}  // namespace sluice::http
