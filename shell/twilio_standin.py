"""A local stand-in for Twilio's Messages REST API, for the real twilio client to talk to in tests."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode
from urllib.request import Request, urlopen

API_VERSION = "2010-04-01"
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)
_ERRORS = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20503: "Service unavailable",
    21211: "The 'To' number {to} is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
}


@dataclass(frozen=True)
class StandinRequest:
    """One request the stand-in received, as the test wants to see it."""

    method: str
    path: str
    to: str | None
    from_: str | None
    body: str | None
    status_callback: str | None
    auth_ok: bool
    user_agent: str
    at: float
    status: int
    sid: str | None


def _segments(body: str) -> int:
    gsm = all(c in _GSM7 for c in body)
    single, multi = (160, 153) if gsm else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


class TwilioStandin:
    """A threaded HTTP server speaking the Messages part of Twilio's 2010-04-01 API."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._lock = threading.Condition()
        self._requests: list[StandinRequest] = []
        self._rejected: dict[str, int] = {}
        self._fail_next = 0
        self._fail_status = 503
        self._delay_s = 0.0
        self._sent: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def start(cls) -> TwilioStandin:
        """Start on a free port of 127.0.0.1 with a fresh account SID and auth token."""
        standin = cls("AC" + secrets.token_hex(16), secrets.token_hex(16))
        standin._server = ThreadingHTTPServer(("127.0.0.1", 0), standin._handler_class())
        standin._server.daemon_threads = True
        standin._thread = threading.Thread(target=standin._server.serve_forever, name="twilio-standin", daemon=True)
        standin._thread.start()
        return standin

    @property
    def url(self) -> str:
        """Base URL to use as the client's API base (like https://api.twilio.com)."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[StandinRequest]:
        """A copy of every request received so far."""
        with self._lock:
            return list(self._requests)

    def reject(self, number: str, code: int = 21211) -> None:
        """Answer every message to `number` with a permanent Twilio error (400, e.g. 21211 or 21610)."""
        with self._lock:
            self._rejected[number] = code

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        """Answer the next `count` message requests with a transient server error."""
        with self._lock:
            self._fail_next, self._fail_status = count, status

    def fail_all(self, status: int = 503) -> None:
        """Answer every message request with `status` (503, 500, 429, ...) until `recover()`."""
        self.fail_next(10**9, status)

    def recover(self) -> None:
        """Stop failing and delaying."""
        with self._lock:
            self._fail_next, self._delay_s = 0, 0.0

    def delay(self, seconds: float) -> None:
        """Hold every message request this long before answering (longer than the client timeout: a timeout)."""
        with self._lock:
            self._delay_s = seconds

    @property
    def accepted(self) -> list[StandinRequest]:
        """The message requests answered 201: the SMS Twilio would deliver."""
        return [r for r in self.requests if r.status == 201 and r.method == "POST"]

    def post_signed(self, url: str, params: dict[str, str], *, token: str | None = None) -> tuple[int, str]:
        """POST a form to a webhook URL signed as Twilio signs it (with `token`, default the real auth token)."""
        from twilio.request_validator import RequestValidator

        signature = RequestValidator(token or self.auth_token).compute_signature(url, params)
        req = Request(
            url,
            data=urlencode(params).encode(),
            headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except Exception as err:  # HTTPError carries the status
            code = getattr(err, "code", 0)
            body = err.read().decode() if hasattr(err, "read") else str(err)
            return int(code), body

    def status_callback(self, sid: str, status: str, error_code: str | None = None) -> tuple[int, str]:
        """Tell the message's StatusCallback URL its new status, as Twilio does."""
        with self._lock:
            msg = next(m for m in self._sent if m["sid"] == sid)
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": msg["to"],
            "From": msg["from"],
            "ApiVersion": API_VERSION,
        }
        if error_code:
            params["ErrorCode"] = error_code
        return self.post_signed(msg["callback"], params)

    def reply(self, url: str, from_: str, body: str, *, token: str | None = None) -> tuple[int, str]:
        """Deliver an incoming SMS to the messaging webhook at `url`, as Twilio does."""
        params = {
            "MessageSid": "SM" + secrets.token_hex(16),
            "AccountSid": self.account_sid,
            "From": from_,
            "To": "+15005550006",
            "Body": body,
            "NumMedia": "0",
            "ApiVersion": API_VERSION,
        }
        return self.post_signed(url, params, token=token)

    def wait_for(self, predicate: Callable[[list[StandinRequest]], bool], timeout: float = 10.0) -> bool:
        """Wait until `predicate(requests)` holds; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(list(self._requests)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _record(self, req: StandinRequest) -> None:
        with self._lock:
            self._requests.append(req)
            self._lock.notify_all()

    def _answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any], StandinRequest]:
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        auth_ok = (
            headers.get("authorization", "")
            == "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        to, from_, body = form.get("To"), form.get("From"), form.get("Body")
        parts = path.split("?")[0].strip("/").split("/")
        if method == "GET" and auth_ok and len(parts) == 4 and parts[3] == "Messages.json":
            return self._list(path)
        with self._lock:
            delay = self._delay_s
        if delay:
            time.sleep(delay)
        is_messages = (
            method == "POST"
            and len(parts) == 4
            and parts[0] == API_VERSION
            and parts[1] == "Accounts"
            and parts[3] == "Messages.json"
        )
        sid: str | None = None
        with self._lock:
            rejected = self._rejected.get(to or "")
            failing = self._fail_next > 0 and is_messages and auth_ok
            if failing:
                self._fail_next -= 1
        if not auth_ok:
            status, payload = 401, self._error(401, 20003)
        elif not is_messages or parts[2] != self.account_sid:
            status, payload = 404, self._error(404, 20404)
        elif failing:
            status, payload = (
                self._fail_status,
                self._error(self._fail_status, 20429 if self._fail_status == 429 else 20503),
            )
        elif not to:
            status, payload = 400, self._error(400, 21604)
        elif not from_:
            status, payload = 400, self._error(400, 21603)
        elif not body:
            status, payload = 400, self._error(400, 21602)
        elif rejected is not None:
            status, payload = 400, self._error(400, rejected, to=to)
        else:
            sid = "SM" + secrets.token_hex(16)
            status, payload = 201, self._message(sid, to, from_, body, form.get("StatusCallback"))
            with self._lock:
                self._sent.append(
                    {"sid": sid, "to": to, "from": from_, "callback": form.get("StatusCallback"), **payload}
                )
        req = StandinRequest(
            method=method,
            path=path,
            to=to,
            from_=from_,
            body=body,
            status_callback=form.get("StatusCallback"),
            auth_ok=auth_ok,
            user_agent=headers.get("user-agent", ""),
            at=time.time(),
            status=status,
            sid=sid,
        )
        return status, payload, req

    def _list(self, path: str) -> tuple[int, dict[str, Any], StandinRequest]:
        query = {k: v[0] for k, v in parse_qs(path.partition("?")[2]).items()}
        with self._lock:
            found = [
                m
                for m in reversed(self._sent)
                if m["to"] == query.get("To", m["to"]) and m["from"] == query.get("From", m["from"])
            ]
        fields = ("account_sid", "api_version", "body", "date_created", "date_sent", "date_updated", "direction")
        messages = [{k: v for k, v in m.items() if k not in ("callback",)} for m in found]
        for m in messages:
            for f in fields:
                m.setdefault(f, None)
        page = {
            "messages": messages,
            "end": max(len(messages) - 1, 0),
            "first_page_uri": path,
            "next_page_uri": None,
            "page": 0,
            "page_size": 50,
            "previous_page_uri": None,
            "start": 0,
            "uri": path,
        }
        req = StandinRequest("GET", path, query.get("To"), None, None, None, True, "", time.time(), 200, None)
        return 200, page, req

    def _message(self, sid: str, to: str, from_: str, body: str, callback: str | None) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC), usegmt=False)
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": to,
            "uri": f"{base}.json",
        }

    @staticmethod
    def _error(status: int, code: int, **fmt: str) -> dict[str, Any]:
        return {
            "code": code,
            "message": _ERRORS.get(code, "Error").format(**fmt),
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, payload, req = standin._answer(self.command, self.path, headers, raw)
                standin._record(req)  # before answering: once the client has its answer, the test sees the request
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
                self.end_headers()
                self.wfile.write(data)

            do_POST = _serve
            do_GET = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
