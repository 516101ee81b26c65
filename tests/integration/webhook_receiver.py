"""A webhook receiver run as its own process by the webhook tests.

It verifies every delivery's signature the way docs/webhooks.md tells receivers to (HMAC-SHA256
over "<timestamp>." + body, timestamp within five minutes) and appends one JSON line per
request to ``--log``: event id and type, whether the signature verified, the status answered.
``--fail-first N`` answers 500 to the first N deliveries of each event id, then 200. A
delivery whose signature does not verify is answered 401, a body shorter than its
Content-Length (the sender died mid-request) 400; neither counts as delivered. With
``--cert``/``--key`` it serves HTTPS with that certificate (the HTTPS receiver tests).

    python -m tests.integration.webhook_receiver --port P --secret S --log FILE [--fail-first N]
        [--cert PEM --key PEM]
"""

from __future__ import annotations

import argparse
import json
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from hybridcloud.events import signing


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    args = parser.parse_args()
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    log = args.log.open("a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            declared = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(declared)
            # A sender killed mid-request leaves a short body: not a delivery (and unsigned).
            truncated = len(body) < declared
            verified = signing.verify(
                args.secret.encode(), self.headers.get(signing.TIMESTAMP_HEADER, ""), body,
                self.headers.get(signing.SIGNATURE_HEADER, ""), now=int(time.time()))
            event_id = self.headers.get(signing.EVENT_ID_HEADER, "")
            with lock:
                if truncated:
                    code = 400
                elif not verified:
                    code = 401
                else:
                    seen[event_id] += 1
                    code = 500 if seen[event_id] <= args.fail_first else 200
                log.write(json.dumps({
                    "id": event_id, "event": self.headers.get(signing.EVENT_TYPE_HEADER),
                    "delivery": self.headers.get(signing.DELIVERY_HEADER),
                    "verified": verified, "truncated": truncated, "answered": code,
                    "body": json.loads(body) if verified else None,
                }) + "\n")
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
