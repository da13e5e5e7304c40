#!/usr/bin/python3
"""A gRPC backend that misbehaves on request, for the tests of Sluice's own gRPC client.

Usage: grpc_scripted_backend.py [--max-streams N]
Listens on 127.0.0.1 (an ephemeral port), prints "listening on PORT", and speaks HTTP/2 with the
python3-h2 library (not Sluice's code). Every call is answered by the mode in its `x-mode`
metadata; `x-call` names a call, so that the "-once" modes misbehave only the first time they see
it (the gateway sends a refused call again). --max-streams sets SETTINGS_MAX_CONCURRENT_STREAMS
(default 100):

  ok            an empty reply message, grpc-status 0 (the default)
  big           a 5 MiB reply message, sent as the client's flow-control windows allow
  message       trailers only: grpc-status 3 and a percent-encoded grpc-message
  no-status     a reply message and the end of the stream, no grpc-status
  http503       HTTP 503, no gRPC at all
  calm          RST_STREAM ENHANCE_YOUR_CALM
  refuse-once   RST_STREAM REFUSED_STREAM
  goaway-once   GOAWAY below this stream, then the connection is closed
  hang          nothing (until the client resets the stream)
  timeout       trailers only: grpc-status 3, the call's grpc-timeout as grpc-message

A call without `te: trailers`, a gRPC content-type or grpc-timeout is answered grpc-status 13.
"""

import socket
import sys
import threading

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

EMPTY = b"\x00\x00\x00\x00\x00"
BIG = 5 * 1024 * 1024

max_streams = 100
seen = set()
seen_lock = threading.Lock()


def first_time(call):
    with seen_lock:
        if call in seen:
            return False
        seen.add(call)
        return True


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.conn.local_settings = h2.settings.Settings(
            client=False, initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_streams,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE:
                    self.conn.DEFAULT_MAX_HEADER_LIST_SIZE})
        self.headers = {}
        self.pending = {}  # stream id -> bytes still to send, then OK trailers

    def serve(self):
        self.conn.initiate_connection()
        self.flush()
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    self.headers[event.stream_id] = dict(event.headers)
                elif isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                        event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    if self.answer(event.stream_id, self.headers.pop(event.stream_id, {})):
                        self.flush()
                        return  # closed
                elif isinstance(event, h2.events.StreamReset):
                    self.pending.pop(event.stream_id, None)
            self.send_pending()
            self.flush()

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def send_pending(self):
        for sid in list(self.pending):
            rest = self.pending[sid]
            while rest:
                n = min(len(rest), self.conn.local_flow_control_window(sid),
                        self.conn.max_outbound_frame_size)
                if n <= 0:
                    break
                self.conn.send_data(sid, rest[:n])
                rest = rest[n:]
            if rest:
                self.pending[sid] = rest
            else:
                del self.pending[sid]
                self.conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)

    # Returns True when the connection was closed.
    def answer(self, sid, h):
        mode = h.get("x-mode", "ok")
        call = h.get("x-call", "")
        if (h.get("te") != "trailers" or not h.get("content-type", "").startswith("application/grpc")
                or "grpc-timeout" not in h):
            self.conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc"),
                                         ("grpc-status", "13"),
                                         ("grpc-message", "bad request headers")],
                                   end_stream=True)
            return False
        if mode == "refuse-once" and first_time(call):
            self.conn.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
            return False
        if mode == "goaway-once" and first_time(call):
            self.conn.close_connection(error_code=h2.errors.ErrorCodes.NO_ERROR,
                                       last_stream_id=max(sid - 2, 0))
            self.flush()
            self.sock.close()
            return True
        if mode == "hang":
            return False
        if mode == "calm":
            self.conn.reset_stream(sid, h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)
            return False
        if mode == "http503":
            self.conn.send_headers(sid, [(":status", "503"), ("content-type", "text/plain")],
                                   end_stream=True)
            return False
        self.conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
        if mode == "no-status":
            self.conn.send_data(sid, EMPTY, end_stream=True)
        elif mode == "message":
            self.conn.send_headers(sid, [("grpc-status", "3"),
                                         ("grpc-message", "caf%C3%A9 %25 done")],
                                   end_stream=True)
        elif mode == "timeout":
            self.conn.send_headers(sid, [("grpc-status", "3"),
                                         ("grpc-message", h["grpc-timeout"])],
                                   end_stream=True)
        elif mode == "big":
            self.pending[sid] = b"\x00" + BIG.to_bytes(4, "big") + b"\x00" * BIG
        else:
            self.conn.send_data(sid, EMPTY)
            self.conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        return False


def handle(sock):
    try:
        Connection(sock).serve()
    except (OSError, h2.exceptions.ProtocolError):
        pass
    finally:
        sock.close()


def main():
    global max_streams
    if len(sys.argv) == 3 and sys.argv[1] == "--max-streams":
        max_streams = int(sys.argv[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print("listening on %d" % listener.getsockname()[1], flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=handle, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
