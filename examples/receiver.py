"""A webhook receiver, as a customer of hookstack would write it: verify, deduplicate, then act.

    pip install standardwebhooks            # the official Standard Webhooks library
    python examples/receiver.py --port 8765 \
        --signing-secret whsec_aG9va3N0YWNrLWV4YW1wbGVzLXNpZ25pbmcta2V5LTAx --api-key globex-example-api-key

- Signed deliveries (``auth.type: signed``) carry ``webhook-id``, ``webhook-timestamp`` and
  ``webhook-signature``; ``Webhook(secret).verify(raw body, headers)`` checks the signature over the
  raw bytes (constant-time) and refuses timestamps more than five minutes off (replays).
- API-destination deliveries with ``auth.type: apiKey`` carry the key in a header; compare it in
  constant time.
- Deliveries are at least once: the same event can arrive twice (retries, replays, redrives) with the
  same id (``webhook-id``, or ``eventId`` in the body), so remember the ids already handled.

Each accepted delivery is printed as one JSON line: ``{"path", "auth", "id", "type", "data"}``.
Anything unverified gets 401 and nothing else happens.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY_BYTES = 1024 * 1024


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, signing_secret: str | None, api_key: str | None) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.webhook = Webhook(signing_secret) if signing_secret else None
        self.api_key = api_key
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def first_time(self, delivery_id: str) -> bool:
        with self.lock:
            if delivery_id in self.seen:
                return False
            self.seen.add(delivery_id)
            return True


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self._answer(413 if length > MAX_BODY_BYTES else 400)
            return
        body = self.rfile.read(length)  # the raw bytes: a signature covers exactly these
        accepted = self._verify(body)
        if accepted is None:
            print(json.dumps({"path": self.path, "rejected": True}), flush=True)
            self._answer(401)
            return
        auth, delivery_id, event_type, data = accepted
        if self.server.first_time(delivery_id):
            print(
                json.dumps({"path": self.path, "auth": auth, "id": delivery_id, "type": event_type, "data": data}),
                flush=True,
            )
        self._answer(200)  # a duplicate is acknowledged too, and not processed again

    do_PUT = do_PATCH = do_POST

    def _verify(self, body: bytes) -> tuple[str, str, str, Any] | None:
        server = self.server
        if self.headers.get("webhook-signature"):
            if server.webhook is None:
                return None
            headers = {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("webhook-")}
            try:
                payload = server.webhook.verify(body, headers)
            except WebhookVerificationError:
                return None
            return "standard-webhooks", headers["webhook-id"], payload.get("type", ""), payload.get("data")
        key = self.headers.get("x-api-key")
        if key is not None and server.api_key and hmac.compare_digest(key.encode(), server.api_key.encode()):
            try:
                event = json.loads(body)
            except ValueError:
                return None
            # The whole event, or the destination's transform of it: either way eventId is in it.
            detail = event.get("detail", event) if isinstance(event, dict) else {}
            return "api-key", str(detail.get("eventId", "")), str(event.get("detail-type", "")), event
        return None

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # the JSON lines are the log
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--signing-secret", default=os.environ.get("WEBHOOK_SECRET"), help="whsec_... (or WEBHOOK_SECRET)"
    )
    parser.add_argument("--api-key", default=os.environ.get("WEBHOOK_API_KEY"), help="or WEBHOOK_API_KEY")
    args = parser.parse_args(argv)
    server = Receiver(args.port, args.signing_secret, args.api_key)
    print(json.dumps({"listening": f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
