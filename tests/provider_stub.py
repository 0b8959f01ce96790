"""A loopback stand-in for Z-API and the Meta Graph API: answers sends, records every request.

    with ProviderStub(zapi=ZapiAccount(...), meta=MetaAccount(...)) as stub:
        ...  # point ATENDE_ZAPI_BASE_URL and ATENDE_META_GRAPH_URL at stub.url
        stub.fail_next(2, status=429, retry_after=0)  # the next two sends are throttled
        stub.slow(0.05)                                # each answer 50 ms late (recorded first)
        stub.sent_to("5511987650101")                  # what that phone received

It serves `POST /instances/{id}/token/{token}/send-text` (Client-Token header checked; answers
`{"zaapId", "messageId", "id"}`) and `POST /{version}/{phone_number_id}/messages` (Bearer checked;
answers `{"messaging_product", "contacts", "messages": [{"id": "wamid..."}]}`), with the error
bodies each provider gives for a wrong credential, a throttle or an outage. A stdlib
`ThreadingHTTPServer` in a daemon thread on 127.0.0.1: it shares no event loop with the tests.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ZAPI_SEND = re.compile(r"/instances/(?P<instance>[^/]+)/token/(?P<token>[^/]+)/send-text")
_META_SEND = re.compile(r"/(?P<version>v\d+\.\d+)/(?P<number>\d+)/messages")

Answer = tuple[int, dict[str, str], Any]  # status, extra headers, JSON body


@dataclass(frozen=True)
class ZapiAccount:
    instance_id: str
    token: str
    client_token: str


@dataclass(frozen=True)
class MetaAccount:
    phone_number_id: str
    access_token: str


@dataclass(frozen=True)
class Recorded:
    """One request the stub received, and what it answered."""

    provider: str  # "zapi" | "meta" | "unknown"
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    json: Any  # the parsed body, or None when it was not JSON
    status: int
    answer: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def to(self) -> str | None:
        """The recipient's digits: Z-API `phone`, Meta `to`."""
        body = self.json if isinstance(self.json, dict) else {}
        value = body.get("phone" if self.provider == "zapi" else "to")
        return value if isinstance(value, str) else None

    @property
    def text(self) -> str:
        """The message text: Z-API `message`, Meta `text.body` or `interactive.body.text`."""
        body = self.json if isinstance(self.json, dict) else {}
        if self.provider == "zapi":
            value = body.get("message")
        elif isinstance(body.get("text"), dict):
            value = body["text"].get("body")
        else:
            value = ((body.get("interactive") or {}).get("body") or {}).get("text")
        return value if isinstance(value, str) else ""


@dataclass
class _Failures:
    remaining: int
    status: int
    retry_after: float | None


class ProviderStub:
    """Both providers on one loopback port; every read is a thread-safe copy."""

    def __init__(
        self,
        *,
        zapi: ZapiAccount | None = None,
        meta: MetaAccount | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.zapi = zapi
        self.meta = meta
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._failures: _Failures | None = None
        self._delay = 0.0
        self._server = _Server((host, port), _handler_for(self))
        self._server.daemon_threads = True  # a keep-alive connection must not block stop()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ProviderStub:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="provider-stub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> ProviderStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what a test reads and controls

    @property
    def requests(self) -> list[Recorded]:
        """Every request received so far, failed ones included, in arrival order."""
        with self._lock:
            return list(self._requests)

    def sent(self, provider: str | None = None) -> list[Recorded]:
        """The sends the provider accepted (2xx): what reached the patients."""
        return [r for r in self.requests if r.ok and provider in (None, r.provider)]

    def sent_to(self, phone: str, provider: str | None = None) -> list[Recorded]:
        """The accepted sends to `phone` (digits, with or without `+`)."""
        digits = phone.removeprefix("+")
        return [r for r in self.sent(provider) if r.to == digits]

    def fail_next(self, count: int, *, status: int = 500, retry_after: float | None = None) -> None:
        """Answer the next `count` well-formed, authenticated sends with `status` (429 or 5xx)
        and the provider's error body, plus a Retry-After header when `retry_after` is given."""
        with self._lock:
            self._failures = _Failures(count, status, retry_after) if count > 0 else None

    def slow(self, seconds: float) -> None:
        """Answer every request `seconds` late. The request is recorded on arrival: a sender
        that dies while waiting for the answer has still reached the patient, as with the real
        APIs."""
        self._delay = max(seconds, 0.0)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._failures = None

    # request handling (on the server's threads)

    def answer(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[str, Answer]:
        """(provider, answer) for one request; `headers` have lower-case names."""
        path = path.split("?", 1)[0]
        if method == "POST" and (match := _ZAPI_SEND.fullmatch(path)):
            return "zapi", self._zapi(match, headers, body)
        if method == "POST" and (match := _META_SEND.fullmatch(path)):
            return "meta", self._meta(match, headers, body)
        return "unknown", (404, {}, {"error": "not found"})

    def _record(self, entry: Recorded) -> None:
        with self._lock:
            self._requests.append(entry)

    def _take_failure(self) -> _Failures | None:
        with self._lock:
            failures = self._failures
            if failures is None:
                return None
            failures.remaining -= 1
            if failures.remaining <= 0:
                self._failures = None
            return failures

    def _zapi(self, match: re.Match[str], headers: dict[str, str], body: Any) -> Answer:
        account = self.zapi
        if account is None or (match["instance"], match["token"]) != (account.instance_id, account.token):
            return 400, {}, {"error": "Instance not found"}
        if headers.get("client-token") != account.client_token:
            return 400, {}, {"error": "your client-token is not configured"}
        if not isinstance(body, dict) or not body.get("phone") or not body.get("message"):
            return 400, {}, {"error": "null not allowed"}
        if (failure := self._take_failure()) is not None:
            error = "Too many requests" if failure.status == 429 else "Internal server error"
            return failure.status, _retry_after(failure), {"error": error}
        message_id = "3EB0" + uuid.uuid4().hex[:16].upper()
        return 200, {}, {"zaapId": uuid.uuid4().hex.upper(), "messageId": message_id, "id": message_id}

    def _meta(self, match: re.Match[str], headers: dict[str, str], body: Any) -> Answer:
        account = self.meta
        if account is None or headers.get("authorization") != f"Bearer {account.access_token}":
            return 401, {}, _meta_error(190, "Invalid OAuth access token - Cannot parse access token")
        if match["number"] != account.phone_number_id:
            return (
                400,
                {},
                _meta_error(
                    100, f"Unsupported post request. Object with ID '{match['number']}' does not exist"
                ),
            )
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp" or not body.get("to"):
            return 400, {}, _meta_error(100, "(#100) Invalid parameter")
        if (failure := self._take_failure()) is not None:
            if failure.status == 429:
                error = _meta_error(
                    130429, "(#130429) Rate limit hit", "Cloud API message throughput has been reached."
                )
            else:
                error = _meta_error(131000, "Something went wrong")
            return failure.status, _retry_after(failure), error
        to = str(body["to"])
        return (
            200,
            {},
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": "wamid.HBgN" + uuid.uuid4().hex.upper()}],
            },
        )


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a sender that died before reading its answer: nothing to report
        super().handle_error(request, client_address)


def _retry_after(failure: _Failures) -> dict[str, str]:
    return {} if failure.retry_after is None else {"Retry-After": f"{failure.retry_after:g}"}


def _meta_error(code: int, message: str, details: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AstubTrace",
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


def _handler_for(stub: ProviderStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs do

        def do_POST(self) -> None:
            self._serve("POST")

        def do_GET(self) -> None:
            self._serve("GET")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            if len(raw) < length:  # the sender died mid-request: nothing reached the provider
                self.close_connection = True
                return
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            headers = {name.lower(): value for name, value in self.headers.items()}
            provider, (status, extra, answer) = stub.answer(method, self.path, headers, body)
            stub._record(Recorded(provider, method, self.path, headers, body, status, answer))
            if stub._delay:
                time.sleep(stub._delay)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests read `stub.requests`, not stderr

    return Handler
