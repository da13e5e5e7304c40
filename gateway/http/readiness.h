#pragma once

// What Asio's reactor knows about a plain TCP socket's receive side, so that a read which could
// only be told EAGAIN is not tried.
//
// Asio starts every read with a recv() (a "speculative" read) unless it knows the socket is
// empty, and it learns that only from a read that returned 0 bytes. A proxy's reads mostly wait:
// the backend's answer right after the request is written, the client's next request right after
// the answer. Each cost a recv() that said EAGAIN, and on this machine's virtual CPUs a system
// call costs about 1.5 µs: two of them were a sixth of a no-op request's CPU. HAProxy reads again
// only once epoll says so after a short read, and with these functions so does Sluice.
//
// Why it is safe (epoll is edge-triggered: an edge is raised by each arrival after it was last
// reported): a read that waited in the reactor (ReadWaits) is run on an edge and calls its
// handler in that same turn of the event loop. If it came back short, everything that had
// arrived by then was read, except a close (a FIN is no data: recv() returns the bytes before it
// and says nothing) and bytes behind TCP urgent data (recv() stops at the urgent mark). So the
// socket counts as drained only when that edge reported neither the peer's close (EPOLLRDHUP,
// which NoteShortRead adds to the socket's registration on first use) nor urgent data
// (EPOLLPRI); whatever arrives later raises an edge of its own, which runs the next read or turns
// MayHaveBytes true again. A read that completed at once is not run on an edge, and its handler
// may run a turn later: it proves nothing, and NoteShortRead is not called for it. Nor may it be
// called when another operation (a write) was started on the socket while the read waited: the
// reactor completes the first operation an edge finishes inline and queues the others behind its
// next epoll_wait. ReadWaits checks this when the read starts; the callers start no write on the
// socket until the read completed.
//
// It reaches into Asio's private reactor state (epoll, as Boost 1.74 in Debian bookworm has it;
// the build fails on another version rather than guess). One worker thread runs each socket's
// io_context, so the reactor's own locks are not needed here.

#include <cstddef>

#include "gateway/http/executor.h"

namespace sluice::http {

// Whether the read just started on the socket waits in the reactor for epoll's edge (nothing was
// there: known empty, or Asio's recv() found it so), rather than having completed at once, and
// nothing else waits on the socket (no write may be started on it until the read completes).
bool ReadWaits(Socket& socket);

// In the handler of a read that waited, when it returned fewer bytes than asked: marks the socket
// drained unless its edge also said the peer closed or sent urgent data. The first call on a socket
// only asks epoll to report closes (one epoll_ctl); from then on the next read waits without a
// recv() first.
void NoteShortRead(Socket& socket);

// The pattern above for one read at a time: Started right after the read is started, Finished in
// its handler when it succeeded.
class WaitedRead {
 public:
  // `asked`: the bytes the read may return; 0 notes nothing (a TLS stream's read, whose socket
  // OpenSSL reads).
  void Started(Socket& socket, std::size_t asked) {
    asked_ = asked > 0 && ReadWaits(socket) ? asked : 0;
  }
  void Finished(Socket& socket, std::size_t got) {
    if (got < asked_) NoteShortRead(socket);
  }

 private:
  std::size_t asked_ = 0;  // of a read that waits, else 0
};

// False when the socket was marked drained and the event loop has seen nothing arrive since;
// true otherwise (Asio then tries recv() first).
bool MayHaveBytes(Socket& socket);

// Marks the socket drained, in the same run of handlers as a MSG_PEEK that found it empty (no
// bytes, no close) and with no turn of the event loop in between.
void MarkDrained(Socket& socket);

}  // namespace sluice::http
