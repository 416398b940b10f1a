#!/usr/bin/env python3
"""A webhook receiver for trying Ticketshare's events locally.

    pip install standardwebhooks
    python3 samples/webhook-receiver.py whsec_...   # the secret shown when you add the endpoint

It listens on http://127.0.0.1:8765/ (add that URL on the Webhooks page of the console
while `cargo xtask up --allow-private-webhooks` runs), checks every delivery's signature with the official
Standard Webhooks library and prints the verified events. Answer codes: 204 when the
signature holds, 401 when it does not (Ticketshare then retries on its schedule).
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook

SECRET = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8765


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        try:
            event = Webhook(SECRET).verify(body, dict(self.headers))
        except Exception as e:  # the library raises on any bad signature or timestamp
            print(f"REFUSED ({e}): {self.headers.get('webhook-id')}", flush=True)
            self.send_response(401)
            self.end_headers()
            return
        print(f"verified {self.headers['webhook-id']}: {json.dumps(event)}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", PORT), Receiver).serve_forever()
