#pragma once

// One worker's deadlines (client connection timeouts, backend call deadlines), swept by one
// timer instead of an Asio timer per operation. An Asio timer costs, per request, a heap insert,
// a cancel, and a completion handler run through the event loop only to say "cancelled"; a
// Deadlines::Entry costs a list link and unlink. Measured on the no-op path: 6-7% of Sluice's
// CPU per request (docs/performance.md).
//
// The price is resolution: an entry fires at the first sweep at or after its time, at most
// kResolution late, never early. Every limit it serves is configured in seconds or hundreds of
// milliseconds.
//
// Not thread-safe: an io_context's Deadlines is touched only from the one thread that runs it
// (each worker's context, concurrency hint 1).

#include <array>
#include <chrono>
#include <cstdint>

#include "absl/functional/any_invocable.h"
#include "boost/asio/execution_context.hpp"
#include "boost/asio/io_context.hpp"
#include "gateway/http/executor.h"

namespace sluice::http {

class Deadlines : public boost::asio::io_context::service {
 public:
  using Clock = std::chrono::steady_clock;
  // How late an entry may fire: the sweep's period while entries are due soon.
  static constexpr Clock::duration kResolution = std::chrono::milliseconds(4);
  // Slots of the wheel: deadlines up to kSlots * kResolution (4 s) ahead are visited once, at
  // their time; farther ones (keep-alive idle limits) are passed over once per turn until due.
  static constexpr int64_t kSlots = 1024;

  // A deadline embedded in the object it guards (a session, a call). Its callback runs on the
  // worker thread when the deadline passes, unless disarmed first; it may arm or disarm any
  // entry, this one included. Destroying an entry disarms it. A callback that may end its
  // owner's last reference (closing a connection drops what held it) holds the owner itself
  // while it runs (shared_from_this()->...): nothing else does, as an Asio timer's handler did.
  class Entry {
   public:
    Entry(Deadlines& owner, absl::AnyInvocable<void()> on_expiry)
        : owner_(&owner), on_expiry_(std::move(on_expiry)) {}
    ~Entry() { Disarm(); }
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

    // Fires at `when` (at the next sweep when `when` has passed); re-arming moves it.
    void Arm(Clock::time_point when);
    void ArmAfter(Clock::duration limit) { Arm(Clock::now() + limit); }
    void Disarm() {
      if (armed() && owner_ != nullptr) owner_->Unlink(*this);
    }
    bool armed() const { return pprev_ != nullptr; }

   private:
    friend class Deadlines;
    Deadlines* owner_;  // null once the io_context is gone
    absl::AnyInvocable<void()> on_expiry_;
    Clock::time_point when_{};
    Entry** pprev_ = nullptr;  // the pointer to this entry in its list; null: not armed
    Entry* next_ = nullptr;
  };

  // The Deadlines of `ioc`, created on first use (takes the io_context's service lock: call it
  // once per long-lived object, not per request).
  static Deadlines& Of(boost::asio::io_context& ioc);

  explicit Deadlines(boost::asio::io_context& ioc);
  ~Deadlines() override;

  // Armed entries, for tests.
  int64_t armed() const { return armed_; }

  static boost::asio::execution_context::id id;

 private:
  void Link(Entry& e, Entry** head);
  void Unlink(Entry& e);
  void Sweep();
  // Makes the timer wake at `tick` unless it already waits for one no later.
  void Schedule(int64_t tick);
  void shutdown() override;

  static int64_t TickOf(Clock::time_point t) { return t.time_since_epoch() / kResolution; }

  Timer timer_;
  std::array<Entry*, kSlots> slots_{};  // a circular wheel: tick t's list is slots_[t % kSlots]
  int64_t next_tick_;                   // the first tick not yet swept
  int64_t scheduled_tick_ = -1;         // the tick the timer waits for; -1: not waiting
  uint64_t generation_ = 0;             // of the current wait: older completions are ignored
  int64_t armed_ = 0;
  bool shut_down_ = false;
};

}  // namespace sluice::http
