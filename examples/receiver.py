#!/usr/bin/env python3
"""A small webhook receiver for the examples (Python's standard library only).

It does what the hosted service's handler examples do: check the
Authorization header the webhook was configured with, acknowledge at once
with 200, then process the payload -- here, print it as one JSON line:

    {"path": "/products", "event": "task_completed", "taskId": "task_...",
     "webhookId": "msg_...", "body": {...}}

Usage: python3 receiver.py [--port 9000]   (--port 0 picks a free port)
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The auth value each example configures for its endpoint (None: no auth).
EXPECTED_AUTH = {
    "/ingest/products": "Bearer ingestion-token",
    "/alerts/price-change": "Bearer alert-token",
    "/products": "Bearer token123",
    "/hooks/catch/123456/abcdef": None,
}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        expected = EXPECTED_AUTH.get(self.path)
        if expected is not None and self.headers.get("Authorization") != expected:
            self.answer(401, {"error": "Unauthorized"})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self.answer(400, {"error": "Invalid payload"})
            return
        self.answer(200, {"received": True})
        print(json.dumps({
            "path": self.path,
            "event": self.headers.get("Errand-Event"),
            "taskId": self.headers.get("Errand-Task-Id"),
            "webhookId": self.headers.get("webhook-id"),
            "body": body,
        }), flush=True)

    def answer(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        print(fmt % args, file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("receiver listening on http://127.0.0.1:%d" % server.server_port, file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
