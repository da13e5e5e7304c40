#include "gateway/http/deadlines.h"

#include <algorithm>

namespace sluice::http {

boost::asio::execution_context::id Deadlines::id;

Deadlines& Deadlines::Of(boost::asio::io_context& ioc) {
  return boost::asio::use_service<Deadlines>(ioc);
}

Deadlines::Deadlines(boost::asio::io_context& ioc)
    : boost::asio::io_context::service(ioc),
      timer_(ioc.get_executor()),
      next_tick_(TickOf(Clock::now())) {}

Deadlines::~Deadlines() {
  // Entries that outlive their io_context (destroyed later by their owners) must not reach back.
  for (Entry* head : slots_) {
    for (Entry* e = head; e != nullptr;) {
      Entry* next = e->next_;
      e->owner_ = nullptr;
      e->pprev_ = nullptr;
      e->next_ = nullptr;
      e = next;
    }
  }
}

void Deadlines::shutdown() { shut_down_ = true; }

void Deadlines::Entry::Arm(Clock::time_point when) {
  if (owner_ == nullptr) return;
  Deadlines& d = *owner_;
  if (armed()) d.Unlink(*this);
  // "Never" (time_point::max) and its neighbours would overflow the tick arithmetic below.
  when_ = std::min(when, Clock::time_point::max() - 2 * kResolution);
  // The first tick that starts at or after `when`: the sweep for it finds the entry due.
  const int64_t tick = std::max(d.next_tick_, TickOf(when_ - Clock::duration(1)) + 1);
  d.Link(*this, &d.slots_[tick % kSlots]);
  d.Schedule(tick);
}

void Deadlines::Link(Entry& e, Entry** head) {
  e.next_ = *head;
  if (e.next_ != nullptr) e.next_->pprev_ = &e.next_;
  e.pprev_ = head;
  *head = &e;
  ++armed_;
}

void Deadlines::Unlink(Entry& e) {
  *e.pprev_ = e.next_;
  if (e.next_ != nullptr) e.next_->pprev_ = e.pprev_;
  e.pprev_ = nullptr;
  e.next_ = nullptr;
  --armed_;
}

void Deadlines::Schedule(int64_t tick) {
  if (shut_down_ || (scheduled_tick_ >= 0 && scheduled_tick_ <= tick)) return;
  scheduled_tick_ = tick;
  // Re-arming a waiting timer cancels its wait; that completion carries an old generation.
  timer_.expires_at(Clock::time_point(tick * kResolution));
  timer_.async_wait([this, generation = ++generation_](boost::system::error_code) {
    if (generation == generation_ && !shut_down_) Sweep();
  });
}

void Deadlines::Sweep() {
  scheduled_tick_ = -1;
  const Clock::time_point now = Clock::now();
  const int64_t last = TickOf(now);
  // Due entries move to `expired` first: a callback may disarm (or destroy) any other entry.
  Entry* expired = nullptr;
  for (int64_t t = next_tick_; t <= last && t < next_tick_ + kSlots; ++t) {
    for (Entry* e = slots_[t % kSlots]; e != nullptr;) {
      Entry* next = e->next_;
      if (e->when_ <= now) {
        Unlink(*e);
        Link(*e, &expired);
      }
      e = next;
    }
  }
  next_tick_ = std::max(next_tick_, last + 1);
  while (expired != nullptr) {
    Entry& e = *expired;
    Unlink(e);
    e.on_expiry_();
  }
  if (armed_ == 0) return;
  for (int64_t t = next_tick_; t < next_tick_ + kSlots; ++t) {
    if (slots_[t % kSlots] != nullptr) return Schedule(t);
  }
}

}  // namespace sluice::http
