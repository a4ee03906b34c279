#!/usr/bin/env python3
"""An OTLP/HTTP receiver that accepts and drops everything (not a test): what the benchmarks export to when they
measure the stack with its traces on, so the exporter pays its real cost without a collector's.
  python3 bench/otlp_sink.py PORT   (binds 127.0.0.1; counts requests per path on stdout at exit)"""
import collections, signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received = collections.Counter()

class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        received[self.path] += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")  # an empty Export*ServiceResponse: everything accepted
        self.end_headers()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink)
signal.signal(signal.SIGTERM, lambda *_: (print(dict(received), flush=True), sys.exit(0)))
server.serve_forever()
