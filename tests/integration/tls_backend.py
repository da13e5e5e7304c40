#!/usr/bin/python3
"""An HTTPS backend for the TLS tests: Python's ssl module, not Sluice's code.

Usage: tls_backend.py CERT KEY [--client-ca CA | --file FILE]
Listens on 127.0.0.1 (an ephemeral port), prints "listening on PORT", and answers every GET with
a JSON object: the path, the TLS version, and the client certificate's common name (with
--client-ca a client certificate signed by CA is required). With --file, the answer is FILE's
contents instead (application/json), e.g. a JWK Set. A path containing "close" is answered with
`Connection: close` (so the next call needs a new connection: "resumed" says whether its TLS
session was resumed).
"""

import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if FILE:
            with open(FILE, "rb") as f:
                self.answer(f.read())
            return
        peer = self.connection.getpeercert()
        client = None
        if peer:
            for rdn in peer.get("subject", ()):
                for key, value in rdn:
                    if key == "commonName":
                        client = value
        if "close" in self.path:
            self.close_connection = True
            self.answer(json.dumps({"resumed": self.connection.session_reused}).encode())
            return
        self.answer(json.dumps({"path": self.path, "tls": self.connection.version(),
                                "client": client}).encode())

    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


FILE = None


def main():
    global FILE
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[1], sys.argv[2])
    if len(sys.argv) == 5 and sys.argv[3] == "--client-ca":
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(sys.argv[4])
    if len(sys.argv) == 5 and sys.argv[3] == "--file":
        FILE = sys.argv[4]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("listening on %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
