#include "gateway/http/readiness.h"

#include <sys/epoll.h>

#include <cstdint>

#include "boost/asio/basic_socket.hpp"
#include "boost/asio/detail/epoll_reactor.hpp"
#include "boost/asio/detail/reactive_socket_service.hpp"
#include "boost/asio/detail/scheduler_operation.hpp"
#include "boost/version.hpp"

static_assert(BOOST_VERSION == 107400,
              "gateway/http/readiness.cc reads Boost 1.74's epoll reactor: check "
              "epoll_reactor::descriptor_state and basic_socket::impl_ on this version");
#if !defined(BOOST_ASIO_HAS_EPOLL) || defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#error "gateway/http/readiness.cc expects Asio's epoll reactor"
#endif

namespace sluice::http {

namespace {

namespace asio = boost::asio;
using Reactor = asio::detail::epoll_reactor;
using State = Reactor::descriptor_state;
using Operation = asio::detail::scheduler_operation;
using SocketBase = asio::basic_socket<asio::ip::tcp, Executor>;
using SocketImpl =
    asio::detail::io_object_impl<asio::detail::reactive_socket_service<asio::ip::tcp>, Executor>;
using Flags = bool[Reactor::max_ops];
using Queues = asio::detail::op_queue<asio::detail::reactor_op>[Reactor::max_ops];

// Pointers to private members, taken where access checks do not apply: names in an explicit
// instantiation (C++17 [temp.explicit]), published through a friend function.
template <typename Tag, typename Tag::Type kMember>
struct Publish {
  friend typename Tag::Type Member(Tag) { return kMember; }
};
#define SLUICE_PRIVATE_MEMBER(TagName, MemberType, Class, Name) \
  struct TagName {                                              \
    using Type = MemberType Class::*;                           \
    friend Type Member(TagName);                                \
  };                                                            \
  template struct Publish<TagName, &Class::Name>

SLUICE_PRIVATE_MEMBER(SocketImplTag, SocketImpl, SocketBase, impl_);
SLUICE_PRIVATE_MEMBER(SpeculativeTag, Flags, State, try_speculative_);
SLUICE_PRIVATE_MEMBER(QueuesTag, Queues, State, op_queue_);
SLUICE_PRIVATE_MEMBER(RegisteredTag, uint32_t, State, registered_events_);
SLUICE_PRIVATE_MEMBER(DescriptorTag, int, State, descriptor_);
SLUICE_PRIVATE_MEMBER(ReactorTag, Reactor*, State, reactor_);
SLUICE_PRIVATE_MEMBER(EpollFdTag, int, Reactor, epoll_fd_);
SLUICE_PRIVATE_MEMBER(EventsTag, unsigned int, Operation, task_result_);
#undef SLUICE_PRIVATE_MEMBER

// The reactor's state for the socket; null when it is closed.
State* StateOf(Socket& socket) {
  SocketBase& base = socket;
  return (base.*Member(SocketImplTag())).get_implementation().reactor_data_;
}

// The events of the epoll edge the reactor last ran the socket's operations on. State derives
// from Operation privately: a C-style cast is the one cast that may name a private base.
unsigned int LastEdge(State* state) {
  return ((Operation*)state)->*Member(EventsTag());  // NOLINT(google-readability-casting)
}

bool WatchesCloses(State* state) { return (state->*Member(RegisteredTag()) & EPOLLRDHUP) != 0; }

// Adds EPOLLRDHUP to Asio's registration of the socket (Asio's own later changes, EPOLLOUT, start
// from registered_events_, so they keep it).
void WatchCloses(State* state) {
  uint32_t& registered = state->*Member(RegisteredTag());
  epoll_event ev{};
  ev.events = registered | EPOLLRDHUP;
  ev.data.ptr = state;
  if (epoll_ctl(state->*Member(ReactorTag())->*Member(EpollFdTag()), EPOLL_CTL_MOD,
                state->*Member(DescriptorTag()), &ev) == 0) {
    registered = ev.events;
  }
}

}  // namespace

bool ReadWaits(Socket& socket) {
  State* state = StateOf(socket);
  if (state == nullptr) return false;
  const Queues& queues = state->*Member(QueuesTag());
  // The reactor completes the first operation an edge finishes in that turn and queues the
  // others: a read completes inline only when it is all that waits on the socket.
  return !queues[Reactor::read_op].empty() && queues[Reactor::write_op].empty() &&
         queues[Reactor::except_op].empty();
}

void NoteShortRead(Socket& socket) {
  State* state = StateOf(socket);
  if (state == nullptr || state->*Member(RegisteredTag()) == 0) return;  // closed, or not in epoll
  if (!WatchesCloses(state)) return WatchCloses(state);  // this read's edge could not say
  // A close, or urgent data: recv() stops at the urgent mark once it has copied something, so a
  // short read there leaves bytes behind it.
  if ((LastEdge(state) & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) != 0) return;
  (state->*Member(SpeculativeTag()))[Reactor::read_op] = false;
}

bool MayHaveBytes(Socket& socket) {
  State* state = StateOf(socket);
  return state == nullptr || (state->*Member(SpeculativeTag()))[Reactor::read_op];
}

void MarkDrained(Socket& socket) {
  if (State* state = StateOf(socket)) (state->*Member(SpeculativeTag()))[Reactor::read_op] = false;
}

}  // namespace sluice::http
