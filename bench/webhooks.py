"""Benchmark: webhook latency of `atende serve` at fixed request rates against a bare FastAPI
endpoint, both under real uvicorn on 127.0.0.1, with turns running during the window.

    python bench/webhooks.py [--rates 100,200,300,500] [--seconds 8] [--phones 40]

Open loop: a client in its own process (pinned to its own CPU when there are two or more, the
servers to the others) sends Z-API ReceivedCallback bodies (distinct messageIds, `--phones`
patients) at a fixed rate, each request at its scheduled instant whether or not earlier ones
were answered, over keep-alive connections opened as needed; a request's latency runs from its
scheduled instant to the end of its answer, so a server that falls behind shows it.

(a) is `atende serve` as deployed: SQLite in a temp folder, the offline model, JSON logs at INFO,
the example clinic with a short debounce (`--window`/`--cap` seconds, so turns run beside the
webhooks during each window), senders pointed at the loopback provider stub
(tests/provider_stub.py). (b) is one `POST /hook` that parses the JSON body and answers
`{"ok": true}`: the floor any Python webhook pays. The sides alternate rate by rate (bare first
at each). After each atende window the inbox backlog (rows still pending) is read, then read
again until it drains (or `--drain` seconds pass). Not a test: it prints figures, the ratios last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from provider_stub import MetaAccount, ProviderStub, ZapiAccount  # noqa: E402

TENANT = "clinica-exemplo"
BARE_APP = """
import sys
from typing import Any

import uvicorn
from fastapi import Body, FastAPI

app = FastAPI()


@app.post("/hook")
async def hook(payload: dict[str, Any] = Body(...)) -> dict[str, bool]:
    return {"ok": True}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False)
"""


# the client (its own process)

def zapi_body(template: dict[str, Any], phone: str, instance_id: str) -> bytes:
    payload = {**template, "instanceId": instance_id, "phone": phone,
               "messageId": "3EB0" + uuid.uuid4().hex[:18].upper(),
               "momment": int(time.time() * 1000), "text": {"message": "Quanto custa a limpeza?"}}
    return json.dumps(payload).encode()


class Connections:
    """Keep-alive HTTP/1.1 connections to one host, opened when none is idle, up to `limit`
    (a provider's webhook sender keeps a bounded pool too; a request waits for one, and its
    latency counts the wait): a client light enough to hold its rate on a shared machine."""

    def __init__(self, host: str, port: int, limit: int = 64) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.slots = asyncio.Semaphore(limit)

    async def post(self, path: str, body: bytes) -> int:
        async with self.slots:
            return await self._post(path, body)

    async def _post(self, path: str, body: bytes) -> int:
        conn = self.idle.pop() if self.idle else None
        if conn is None:
            conn = await asyncio.open_connection(self.host, self.port)
            self.opened += 1
        reader, writer = conn
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json"
                     f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        self.idle.append(conn)
        return status


async def drive(url: str, rate: float, seconds: float, phones: int, instance_id: str
                ) -> dict[str, Any]:
    parts = httpx.URL(url)
    pool = Connections(parts.host, parts.port or 80)
    template = json.loads((ROOT / "tests/corpora/zapi/received_text.json").read_text())
    numbers = [f"55119876{60000 + n:05d}" for n in range(phones)]
    count = int(rate * seconds)
    bodies = [zapi_body(template, numbers[i % phones], instance_id) for i in range(count)]
    latencies: list[float] = []
    errors = 0

    async def one(at: float, body: bytes) -> None:
        nonlocal errors
        try:
            ok = await pool.post(parts.raw_path.decode(), body) == 200
        except (OSError, asyncio.IncompleteReadError, ValueError):
            ok = False
        latencies.append(time.perf_counter() - at)
        errors += not ok

    tasks = []
    start = time.perf_counter()
    for i, body in enumerate(bodies):
        at = start + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(at, body)))
    await asyncio.gather(*tasks)
    return {"latencies": latencies, "errors": errors, "connections": pool.opened,
            "seconds": time.perf_counter() - start}


def run_client(url: str, rate: float, seconds: float, phones: int, instance_id: str,
               cpus: set[int] | None) -> dict[str, Any]:
    """One window, driven by a client in its own process."""
    args = [sys.executable, __file__, "--drive", url, "--rate", str(rate), "--seconds",
            str(seconds), "--phones", str(phones), "--instance", instance_id]
    out = subprocess.run(args, capture_output=True, check=True, env=child_env({}),
                         preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


# the servers

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def process(args: list[str], *, env: dict[str, str], cwd: Path, log: Path, health: str,
            cpus: set[int] | None) -> Iterator[None]:
    """Run a server until the block ends; SIGTERM, then SIGKILL after 10 s if it lingers."""
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
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


def child_env(extra: dict[str, str]) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ATENDE_", "OPENAI_", "CLINICA_"))
        and k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}
    }
    return {**inherited, "NO_PROXY": "127.0.0.1,localhost", **extra}


def pending(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        (n,) = conn.execute("SELECT count(*) FROM messages WHERE state = 'pending'").fetchone()
    return int(n)


def drained(db: Path, limit: float) -> tuple[int, float | None]:
    """Rows pending when the window closed, and the seconds until none was (None: not within
    `limit`)."""
    start = time.perf_counter()
    left = first = pending(db)
    while left:
        if time.perf_counter() - start > limit:
            return first, None
        time.sleep(0.2)
        left = pending(db)
    return first, time.perf_counter() - start


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def tenants_dir(folder: Path, window: float, cap: float) -> Path:
    data = yaml.safe_load((ROOT / "tenants" / f"{TENANT}.yaml").read_text("utf-8"))
    data["debounce"] = {"window_seconds": window, "max_seconds": cap}
    (folder / "tenants").mkdir()
    (folder / "tenants" / f"{TENANT}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    return folder / "tenants"


def main(args: argparse.Namespace) -> None:
    rates = [float(r) for r in args.rates.split(",")]
    cores = sorted(os.sched_getaffinity(0))
    client_cpus = {cores[-1]} if len(cores) >= 2 else None
    server_cpus = set(cores[:-1]) if len(cores) >= 2 else None
    zapi = ZapiAccount(uuid.uuid4().hex.upper(), secrets.token_hex(12), secrets.token_hex(16))
    meta = MetaAccount("1122334455667", secrets.token_urlsafe(32))
    webhook_secret = secrets.token_urlsafe(16)
    rows: list[dict[str, Any]] = []
    with (tempfile.TemporaryDirectory(prefix="atende-bench-") as tmp,
          ProviderStub(zapi=zapi, meta=meta) as stub):
        folder = Path(tmp)
        db = folder / "atende.db"
        bare_port, atende_port = free_port(), free_port()
        env = child_env({
            "ATENDE_DATABASE_URL": f"sqlite:///{db}",
            "ATENDE_TENANTS_DIR": str(tenants_dir(folder, args.window, args.cap)),
            "ATENDE_ZAPI_BASE_URL": stub.url, "ATENDE_META_GRAPH_URL": stub.url,
            "ATENDE_LOG_JSON": "true",
            "CLINICA_EXEMPLO_ZAPI_INSTANCE_ID": zapi.instance_id,
            "CLINICA_EXEMPLO_ZAPI_TOKEN": zapi.token,
            "CLINICA_EXEMPLO_ZAPI_CLIENT_TOKEN": zapi.client_token,
            "CLINICA_EXEMPLO_ZAPI_WEBHOOK_SECRET": webhook_secret,
            "CLINICA_EXEMPLO_META_ACCESS_TOKEN": meta.access_token,
            "CLINICA_EXEMPLO_META_APP_SECRET": secrets.token_hex(16),
            "CLINICA_EXEMPLO_META_VERIFY_TOKEN": secrets.token_urlsafe(12),
        })
        bare_url = f"http://127.0.0.1:{bare_port}/hook"
        atende_url = f"http://127.0.0.1:{atende_port}/webhooks/zapi/{TENANT}/{webhook_secret}"
        atende_cmd = [sys.executable, "-m", "atende.cli", "serve", "--host", "127.0.0.1",
                      "--port", str(atende_port), "--model", "offline"]
        with (process([sys.executable, "-c", BARE_APP, str(bare_port)], env=child_env({}),
                      cwd=folder, log=folder / "bare.log",
                      health=f"http://127.0.0.1:{bare_port}/docs", cpus=server_cpus),
              process(atende_cmd, env=env, cwd=folder, log=folder / "atende.log",
                      health=f"http://127.0.0.1:{atende_port}/health", cpus=server_cpus)):
            for url in (bare_url, atende_url):  # warm-up: connections, caches, first turns
                run_client(url, 50, 1, args.phones, zapi.instance_id, client_cpus)
            drained(db, args.drain)
            for rate in rates:
                bare = run_client(bare_url, rate, args.seconds, args.phones, zapi.instance_id,
                                  client_cpus)
                atende = run_client(atende_url, rate, args.seconds, args.phones,
                                    zapi.instance_id, client_cpus)
                backlog, drain = drained(db, args.drain)
                rows.append({"rate": rate, "bare": bare, "atende": atende, "backlog": backlog,
                             "drain_s": drain})
                print(f"  {rate:.0f} req/s done: atende p99 {pct(atende['latencies'], 99) * 1e3:.1f}"
                      f" ms, backlog {backlog}", flush=True)
        replies = len(stub.sent("zapi"))
        log_lines = sum(1 for line in (folder / "atende.log").read_text().splitlines()
                        if line.startswith("{"))
        posts = sum(len(r["atende"]["latencies"]) for r in rows) + 50

    print(f"open loop, {args.seconds:.0f} s per rate, {args.phones} phones, debounce "
          f"{args.window}/{args.cap} s; client on CPU {client_cpus}, servers on {server_cpus}")
    print(f"{'rate':>5} {'side':7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'conns':>6}"
          f" {'backlog':>8} {'drained in':>10}")
    for r in rows:
        for side in ("bare", "atende"):
            s = r[side]
            drain = ("" if side == "bare" else f"{r['backlog']:8d} "
                     + (f"{r['drain_s']:9.1f}s" if r["drain_s"] is not None else "  not yet"))
            print(f"{r['rate']:5.0f} {side:7} {pct(s['latencies'], 50) * 1e3:8.2f} "
                  f"{pct(s['latencies'], 99) * 1e3:8.2f} {s['errors']:7d} {s['connections']:6d} "
                  f"{drain}")
    print(f"replies sent to the provider stub: {replies}; atende log lines per POST "
          f"(turns' lines included): {log_lines / posts:.2f}")
    print("atende / bare p99: " + ", ".join(
        f"{r['rate']:.0f} req/s ×{pct(r['atende']['latencies'], 99) / pct(r['bare']['latencies'], 99):.1f}"
        for r in rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="100,200,300,500")
    parser.add_argument("--seconds", type=float, default=8.0, help="per rate and side")
    parser.add_argument("--phones", type=int, default=40, help="distinct patients")
    parser.add_argument("--window", type=float, default=1.0, help="debounce quiet window (s)")
    parser.add_argument("--cap", type=float, default=4.0, help="debounce cap (s)")
    parser.add_argument("--drain", type=float, default=30.0, help="seconds to wait for the backlog")
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        print(json.dumps(asyncio.run(drive(args.drive, args.rate, args.seconds, args.phones,
                                           args.instance))))
    else:
        main(args)
