"""A local stand-in for the parts of Stripe's REST API that billing.stripe_checkout calls, and events
signed as Stripe signs them.

Stripe cannot be reached from where these tests run (no network beyond the package registries), so
STRIPE_API_BASE points the `stripe` library at this small threaded HTTP server instead. It answers
`POST /v1/checkout/sessions` (form-encoded, as the library sends it) and
`GET /v1/checkout/sessions/<id>` with Checkout Session objects shaped like Stripe's; a test then
"pays" a session here, as a customer would on Stripe's page, and delivers the event Stripe would.
"""

import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

WEBHOOK_SECRET = "whsec_test_standin"  # the stand-in's own
SECRET_KEY = "sk_test_standin"

_ids = itertools.count(1)


class StripeStandIn:
    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.created_params: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "StripeStandIn":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def env(self) -> dict[str, str]:
        return {"STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_API_BASE": self.url}

    def session_create(self, params: dict[str, str]) -> dict[str, Any]:
        session_id = f"cs_test_{next(_ids):06d}{int(time.time() * 1000)}"
        amount = int(params["line_items[0][price_data][unit_amount]"]) * int(params["line_items[0][quantity]"])
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount,
            "currency": params["line_items[0][price_data][currency]"],
            "client_reference_id": params.get("client_reference_id"),
            "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")},
            "payment_intent": None,
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "url": f"{self.url}/c/pay/{session_id}",
        }
        with self.lock:
            self.created_params.append(params)
            self.sessions[session_id] = session
        return session

    def pay(self, session_id: str) -> dict[str, Any]:
        """The customer pays on Stripe's page."""
        with self.lock:
            session = self.sessions[session_id]
            session.update(status="complete", payment_status="paid", payment_intent=f"pi_{session_id[3:]}")
            return dict(session)


def _handler(standin: StripeStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{next(_ids)}")
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {SECRET_KEY}":
                return True
            self._answer(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}})
            return False

        def do_POST(self) -> None:
            if not self._authorized():
                return
            if self.path != "/v1/checkout/sessions":
                self._answer(404, {"error": {"type": "invalid_request_error", "message": "Unrecognized URL"}})
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            self._answer(200, standin.session_create(dict(parse_qsl(body))))

        def do_GET(self) -> None:
            if not self._authorized():
                return
            prefix = "/v1/checkout/sessions/"
            session = standin.sessions.get(self.path[len(prefix) :]) if self.path.startswith(prefix) else None
            if session is None:
                self._answer(404, {"error": {"type": "invalid_request_error", "message": "No such checkout.session"}})
                return
            with standin.lock:
                self._answer(200, session)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def event_payload(event_type: str, thing: dict[str, Any]) -> str:
    return json.dumps(
        {
            "id": f"evt_{next(_ids):08d}",
            "object": "event",
            "api_version": "2025-01-27.acacia",
            "created": int(time.time()),
            "type": event_type,
            "livemode": False,
            "data": {"object": thing},
        }
    )


def signature(payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: HMAC-SHA256 over "{t}.{payload}" with the endpoint's secret."""
    t = int(time.time()) if timestamp is None else timestamp
    v1 = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={v1}"


def charge_refunded(payment_intent: str, *, amount: int, amount_refunded: int, currency: str = "usd") -> dict:
    return {
        "id": f"ch_{next(_ids):08d}",
        "object": "charge",
        "payment_intent": payment_intent,
        "amount": amount,
        "amount_refunded": amount_refunded,
        "currency": currency,
        "refunded": amount_refunded >= amount,
    }
