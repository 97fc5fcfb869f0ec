#!/usr/bin/env python3
"""flaky_proxy.py: a flapping instance for the gateway's retry test.

Usage: flaky_proxy.py LISTEN_PORT TARGET_HOST:PORT

Forwards HTTP/1.1 requests (keep-alive) to TARGET, except that every
second request to /v1/... is answered 503 at once, without reaching it.
GET /__counts answers {"GET": n, "POST": n, "failed": n} (requests to
/v1/... it saw, and how many it failed). Python 3 standard library only.
"""
import http.client
import http.server
import json
import sys
import threading

lock = threading.Lock()
counts = {"GET": 0, "POST": 0, "failed": 0}
target = sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if self.path == "/__counts":
            with lock:
                return self.answer(200, json.dumps(counts).encode())
        if self.path.startswith("/v1/"):
            with lock:
                counts[self.command] = counts.get(self.command, 0) + 1
                fail = (counts["GET"] + counts["POST"]) % 2 == 0
                counts["failed"] += fail
            if fail:
                return self.answer(503, b'{"title":"flapping"}', "application/problem+json")
        conn = http.client.HTTPConnection(target, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "host")}
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        extra = [(k, v) for k, v in r.getheaders() if k.lower() == "location"]
        self.answer(r.status, data, r.getheader("Content-Type", "application/json"), extra)
        conn.close()

    do_GET = forward
    do_POST = forward


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
