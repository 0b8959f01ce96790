"""Benchmark: webhook acknowledgement latency and throughput of `atende serve` against a bare
FastAPI endpoint, both under real uvicorn on 127.0.0.1.

    python bench/webhooks.py [--requests 2000] [--concurrency 16] [--phones 200]

(a) is `atende serve` as deployed: SQLite in a temp folder, the offline model, the example
clinic's channel variables set to random secrets, senders pointed at the loopback provider stub
(tests/provider_stub.py), so debounced turns and their sends run beside the webhooks as they
would in production. (b) is one `POST /hook` that parses the JSON body and answers
`{"ok": true}`: the floor any Python webhook pays for uvicorn, HTTP and JSON. Both get the same
Z-API ReceivedCallback bodies (distinct messageIds, `--phones` distinct patients) from one
httpx.AsyncClient with keep-alive and `--concurrency` requests in flight; (b) is measured first
so atende's background turns cannot slow it down. The client shares the machine's CPUs with
the server. Not a test: it prints figures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from provider_stub import MetaAccount, ProviderStub, ZapiAccount  # noqa: E402

TENANT = "clinica-exemplo"
WARMUP = 50
BARE_APP = """
import sys
from typing import Any

import uvicorn
from fastapi import Body, FastAPI

app = FastAPI()


@app.post("/hook")
async def hook(payload: dict[str, Any] = Body(...)) -> dict[str, bool]:
    return {"ok": True}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]))
"""


@dataclass
class Result:
    name: str
    latencies: list[float]  # seconds, one per request
    seconds: float  # wall time of the whole run
    errors: int

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def zapi_body(phone: str, instance_id: str) -> bytes:
    payload: dict[str, Any] = json.loads((ROOT / "tests/corpora/zapi/received_text.json").read_text())
    payload.update(
        instanceId=instance_id,
        messageId="3EB0" + uuid.uuid4().hex[:18].upper(),
        phone=phone,
        momment=int(time.time() * 1000),
        text={"message": "Quanto custa a limpeza?"},
    )
    return json.dumps(payload).encode()


@contextlib.contextmanager
def process(args: list[str], *, env: dict[str, str], cwd: Path, log: Path, health: str) -> Iterator[None]:
    """Run a server until the block ends; SIGTERM, then SIGKILL after 10 s if it lingers."""
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{args[:4]} exited with {proc.returncode}; see {log}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(health, timeout=1.0).status_code < 500:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"{health} did not answer within 60 s; see {log}")
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


async def fire(name: str, url: str, bodies: list[bytes], concurrency: int) -> Result:
    """POST every body to `url`, `concurrency` at a time, timing each request."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    queue = iter(bodies)

    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            nonlocal errors
            for body in queue:  # the shared iterator hands each body to one worker
                started = time.perf_counter()
                try:
                    response = await client.post(
                        url, content=body, headers={"Content-Type": "application/json"}
                    )
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Result(name, latencies, seconds, errors)


async def measure(name: str, url: str, make_body: Any, args: argparse.Namespace) -> Result:
    await fire(name, url, [make_body(i) for i in range(WARMUP)], args.concurrency)
    bodies = [make_body(WARMUP + i) for i in range(args.requests)]
    return await fire(name, url, bodies, args.concurrency)


def child_env(extra: dict[str, str]) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ATENDE_", "OPENAI_", "CLINICA_"))
        and k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}
    }
    return {**inherited, "NO_PROXY": "127.0.0.1,localhost", **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--phones", type=int, default=200, help="distinct patients")
    args = parser.parse_args()

    zapi = ZapiAccount(uuid.uuid4().hex.upper(), secrets.token_hex(12), secrets.token_hex(16))
    meta = MetaAccount("1122334455667", secrets.token_urlsafe(32))
    webhook_secret = secrets.token_urlsafe(16)
    phones = [f"55119876{60000 + n:05d}" for n in range(args.phones)]

    def body(i: int) -> bytes:
        return zapi_body(phones[i % len(phones)], zapi.instance_id)

    with (
        tempfile.TemporaryDirectory(prefix="atende-bench-") as tmp,
        ProviderStub(zapi=zapi, meta=meta) as stub,
    ):
        folder = Path(tmp)
        bare_port, atende_port = free_port(), free_port()
        env = child_env(
            {
                "ATENDE_DATABASE_URL": f"sqlite:///{folder / 'atende.db'}",
                "ATENDE_TENANTS_DIR": str(ROOT / "tenants"),
                "ATENDE_ZAPI_BASE_URL": stub.url,
                "ATENDE_META_GRAPH_URL": stub.url,
                "ATENDE_LOG_JSON": "true",
                "CLINICA_EXEMPLO_ZAPI_INSTANCE_ID": zapi.instance_id,
                "CLINICA_EXEMPLO_ZAPI_TOKEN": zapi.token,
                "CLINICA_EXEMPLO_ZAPI_CLIENT_TOKEN": zapi.client_token,
                "CLINICA_EXEMPLO_ZAPI_WEBHOOK_SECRET": webhook_secret,
                "CLINICA_EXEMPLO_META_ACCESS_TOKEN": meta.access_token,
                "CLINICA_EXEMPLO_META_APP_SECRET": secrets.token_hex(16),
                "CLINICA_EXEMPLO_META_VERIFY_TOKEN": secrets.token_urlsafe(12),
            }
        )
        bare_cmd = [sys.executable, "-c", BARE_APP, str(bare_port)]
        atende_cmd = [
            sys.executable,
            "-m",
            "atende.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(atende_port),
        ]
        with (
            process(
                bare_cmd,
                env=child_env({}),
                cwd=folder,
                log=folder / "bare.log",
                health=f"http://127.0.0.1:{bare_port}/docs",
            ),
            process(
                atende_cmd,
                env=env,
                cwd=folder,
                log=folder / "atende.log",
                health=f"http://127.0.0.1:{atende_port}/health",
            ),
        ):
            bare = asyncio.run(measure("bare FastAPI", f"http://127.0.0.1:{bare_port}/hook", body, args))
            atende = asyncio.run(
                measure(
                    "atende serve",
                    f"http://127.0.0.1:{atende_port}/webhooks/zapi/{TENANT}/{webhook_secret}",
                    body,
                    args,
                )
            )
            replies = len(stub.sent("zapi"))

    print(
        f"{args.requests} Z-API webhook POSTs, {args.concurrency} in flight, {args.phones} phones, "
        f"after {WARMUP} warm-up requests each; {os.cpu_count()} CPUs shared by client and server"
    )
    print(f"{'':14} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'errors':>7}")
    for result in (bare, atende):
        print(
            f"{result.name:14} {result.pct(50) * 1e3:8.2f} {result.pct(99) * 1e3:8.2f} "
            f"{result.rps:8.0f} {result.errors:7d}"
        )
    print(
        f"atende / bare: p50 ×{atende.pct(50) / bare.pct(50):.1f}, "
        f"p99 ×{atende.pct(99) / bare.pct(99):.1f}, throughput ×{atende.rps / bare.rps:.2f}"
    )
    print(f"replies sent to the provider stub by the end of the atende run: {replies}")


if __name__ == "__main__":
    main()
