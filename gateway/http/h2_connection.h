#pragma once

// Cleartext HTTP/2 (h2c) on the public port, internal to the HTTP front. The HTTP/1.1 Session
// recognises HTTP/2 (the client connection preface, or an `Upgrade: h2c` request) and hands its
// socket over to an H2Connection, which drives one nghttp2 server session on the same worker
// thread. Each stream's request becomes the same Beast `Request` an HTTP/1.1 exchange carries,
// behind the same Exchange interface, so the handler cannot tell the transports apart.
//
// nghttp2 does the framing, HPACK, flow control, stream states and the protocol checks (a
// malformed frame ends the connection with GOAWAY); this file feeds it socket bytes, writes
// what it produces, and maps streams to exchanges.

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "boost/asio/steady_timer.hpp"
#include "gateway/http/exchange.h"
#include "gateway/http/listener.h"

struct nghttp2_session;

namespace sluice::http {

class H2Stream;

// The HTTP/2 connection preface a client sends first (RFC 9113 3.4).
inline constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// True if `request` asks to switch to h2c exactly as RFC 7540 3.2 says: HTTP/1.1, `Upgrade: h2c`,
// `Connection` naming Upgrade and HTTP2-Settings (and not close), one well-formed
// `HTTP2-Settings`.
bool IsH2cUpgrade(const Request& request);
// Decodes an HTTP2-Settings value (base64url, no padding) into a SETTINGS payload whose entries
// are valid; false if it is not one.
bool DecodeH2Settings(std::string_view token, std::string* payload);

class H2Connection : public std::enable_shared_from_this<H2Connection> {
 public:
  // Takes over `socket`. `received`: bytes the HTTP/1.1 session already read and did not use
  // (with prior knowledge, the preface and whatever followed). `upgrade`: the request of an
  // `Upgrade: h2c` exchange; it becomes stream 1, and "101 Switching Protocols" is written first.
  // `charged`: the bytes of its body the HTTP/1.1 session took from the process's
  // max_buffered_request_bytes; stream 1 holds them until it ends. Runs on the listener's worker
  // thread.
  static void Start(H2Transport&& socket, std::shared_ptr<Server::Listener> listener,
                    std::string client_ip, std::string_view received,
                    std::optional<Request> upgrade, uint64_t charged = 0);

  H2Connection(H2Transport&& socket, std::shared_ptr<Server::Listener> listener,
               std::string client_ip);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Graceful shutdown (Listener::Drain): GOAWAY now as a notice, then the final GOAWAY naming
  // the last stream taken; streams in flight finish, then the connection closes.
  void Drain();

 private:
  friend class H2Stream;
  struct Callbacks;  // nghttp2's C callbacks, with access to the members below

  // What the connection timer waits for. Writes have their own timer, and incomplete requests
  // their own deadlines: neither moves this one, so PINGs and SETTINGS cannot keep a connection
  // open.
  enum class TimerPhase { kNone, kIdle, kStalled, kLingering };

  // Moves `*charged` to stream 1 (zeroing it) once that stream exists.
  bool Init(std::optional<Request>* upgrade, uint64_t* charged);
  void DoRead();
  void OnRead(boost::beast::error_code ec, std::size_t bytes);
  void Receive(const uint8_t* data, std::size_t size);
  // Fills write_buffer_ (after write_prefix_) with up to kWriteBatch bytes of nghttp2's output;
  // false when nghttp2 failed and the connection was closed.
  bool Gather();
  // Sends what Gather gives: on a plain socket up to kDirectBatches batches at once, then (or
  // under TLS) an asynchronous write of the rest.
  void DoWrite();
  void OnWrite(boost::beast::error_code ec, std::size_t bytes);
  // After the last frame is written: FIN, then read and discard until the client closes too (or
  // kLingerTimeout), so unread client bytes do not turn our close into a RST that could destroy
  // responses still on their way.
  void LingeringClose();
  void Close();
  void UpdateTimer();
  void OnTimer();
  void OnWriteTimeout();

  // Memory held by requests: charges `bytes` to `stream`, this connection and the process, or
  // returns false (nothing charged) if that would pass H2ConnectionBudget or
  // max_buffered_request_bytes. Uncharge returns all of a stream's charge.
  bool Charge(H2Stream& stream, uint64_t bytes);
  void Uncharge(H2Stream& stream);
  // A stream whose head arrived without END_STREAM: its body must arrive whole within
  // read_timeout (as on HTTP/1.1), by its own clock, whatever other streams or control frames
  // do; else it is answered 408 and reset.
  void StartDeadline(H2Stream& stream);
  void EndDeadline(H2Stream& stream);
  void ArmStreamTimer();
  void OnStreamTimer();
  // Drops a stream's request (freeing its memory) and answers it without the handler.
  void Refuse(H2Stream& stream, unsigned status, std::string_view text);
  void SendFinalGoaway();

  // A stream whose request is complete: queued for the handler.
  void Ready(H2Stream& stream);
  // Hands queued streams to the handler while fewer than kMaxHandlers are running.
  void StartHandlers();
  void Respond(H2Stream& stream, Response&& response);
  // Answers without the handler (413, 431), as the HTTP/1.1 session's WriteError does.
  void LocalReply(H2Stream& stream, unsigned status, std::string_view text);
  void Submit(H2Stream& stream);
  // Writes what nghttp2 has queued unless called from inside one of its callbacks (the read
  // path writes once nghttp2 returns); on a plain socket once the handlers of the current epoll
  // batch have run, so that their answers share a write.
  void Flush();

  // The connection's socket, under TLS or not.
  Socket& socket() { return socket_.tls() ? socket_.tls()->next_layer() : socket_.plain(); }

  H2Transport socket_;
  std::shared_ptr<Server::Listener> listener_;
  std::list<H2Connection*>::iterator self_in_list_;
  std::string client_ip_;
  nghttp2_session* session_ = nullptr;
  Deadlines::Entry timer_;  // for timer_phase_
  TimerPhase timer_phase_ = TimerPhase::kNone;
  bool progressed_ = false;       // a DATA or HEADERS frame went either way since the timer was set
  Deadlines::Entry write_timer_;  // write_timeout for the socket write in progress
  boost::asio::steady_timer stream_timer_;  // the earliest request deadline
  bool stream_timer_armed_ = false;
  // Streams still receiving their request, oldest (earliest deadline) first.
  std::list<H2Stream*> incomplete_;
  uint64_t buffered_bytes_ = 0;  // charged by this connection's streams
  const uint64_t budget_;        // H2ConnectionBudget

  std::vector<uint8_t> read_buffer_;
  std::string write_buffer_;  // bytes being written; nghttp2 is not asked for more meanwhile
  std::string write_prefix_;  // "101 Switching Protocols" of an upgrade, written first
  bool writing_ = false;
  bool flush_posted_ = false;  // a Flush is queued on the event loop (plain sockets)
  bool reading_ = false;
  bool lingering_ = false;
  bool in_nghttp2_ = false;  // inside nghttp2_session_mem_recv (and its callbacks)
  bool closed_ = false;
  bool draining_ = false;
  bool final_goaway_sent_ = false;
  bool starting_handlers_ = false;

  // Open streams (nghttp2's stream user data points at them). A stream leaves the map when
  // nghttp2 closes it; an exchange still in the handler keeps its object alive, and its late
  // Respond is dropped.
  std::unordered_map<int32_t, std::shared_ptr<H2Stream>> streams_;
  // Streams closed inside an nghttp2 callback: released once nghttp2 has returned.
  std::vector<std::shared_ptr<H2Stream>> released_;
  // Complete requests waiting for a handler slot (some may have been reset meanwhile).
  std::deque<std::shared_ptr<H2Stream>> waiting_;
  // Handlers started and not yet answered, including those of streams the client reset: this,
  // not the open-stream count, bounds the work one connection can start (rapid reset).
  int handlers_running_ = 0;
};

}  // namespace sluice::http
