"""A loopback stand-in for OpenAI's chat completions, for recording eval cassettes in tests.

    with OpenAIStandIn() as standin:   # OPENAI_BASE_URL=standin.url
        ...

`POST /v1/chat/completions`: while the last message is not a tool result it asks for
`list_services` (query "limpeza"); after a tool result it answers in text, quoting the first
service's `price_text` from that result. Usage is reported, so tokens and cost are real numbers.
Asked to play the patient (the eval's simulated user, recognised by its system prompt), it asks
the price first and then thanks and stops with `###STOP###`.
A stdlib `ThreadingHTTPServer` in a daemon thread on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CREATED = 1767225600  # 2026-01-01, fixed so recordings do not churn


SIMULATOR = "Você está simulando um paciente"


def completion(messages: list[dict[str, Any]], n: int) -> dict[str, Any]:
    last = messages[-1] if messages else {}
    finish = "stop"
    if str(messages[0].get("content", "")).startswith(SIMULATOR):
        spoken = sum(m.get("role") == "assistant" for m in messages)
        text = "quanto custa a limpeza?" if not spoken else "Obrigado! ###STOP###"
        message: dict[str, Any] = {"role": "assistant", "content": text}
    elif last.get("role") == "tool":
        services = json.loads(last.get("content") or "{}").get("services") or [{}]
        price = services[0].get("price_text", "?")
        message = {"role": "assistant",
                   "content": f"A limpeza custa {price}. Quer agendar um horário?"}
    else:
        message = {"role": "assistant", "content": None, "tool_calls": [{
            "id": f"call_standin_{n}", "type": "function",
            "function": {"name": "list_services", "arguments": json.dumps({"query": "limpeza"})},
        }]}
        finish = "tool_calls"
    return {"id": f"chatcmpl-standin-{n}", "object": "chat.completion", "created": CREATED,
            "model": "gpt-4o-mini", "choices": [{"index": 0, "message": message,
                                                 "finish_reason": finish}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 12, "total_tokens": 132}}


class OpenAIStandIn:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # {"path", "authorization", "body"}
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
                standin.requests.append({"path": self.path, "body": body,
                                         "authorization": self.headers.get("authorization")})
                if not self.path.endswith("/chat/completions"):
                    self._send(404, {"error": {"message": "not here"}})
                    return
                self._send(200, completion(body.get("messages") or [], len(standin.requests)))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet in test output
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> OpenAIStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
