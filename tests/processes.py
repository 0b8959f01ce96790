"""Real `atende serve` / `atende worker` processes for the multi-process tests: started with a
test's environment, each logging to its own file, stopped (or SIGKILLed) by the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from provider_stub import ProviderStub
from server_harness import ENV


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """The child processes of one run, each logging to its own file."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder, self.env = folder, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "atende.cli", *args], env=self.env,
                                    stdout=log, stderr=subprocess.STDOUT, cwd=self.folder)
        self.procs[name] = proc
        return proc

    def logs(self, lines: int = 15) -> str:
        tails = []
        for name in self.procs:
            text = (self.folder / f"{name}.log").read_text("utf-8", errors="replace")
            tails.append(f"--- {name} ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(tails)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def child_env(database: str, stub: ProviderStub, tenants: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith(("ATENDE_", "OPENAI_", "CLINICA_"))
                 and k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}}
    return {**inherited, **ENV, "ATENDE_DATABASE_URL": database,
            "ATENDE_TENANTS_DIR": str(tenants), "ATENDE_ZAPI_BASE_URL": stub.url,
            "ATENDE_META_GRAPH_URL": stub.url, "ATENDE_LOG_LEVEL": "WARNING",
            "NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"}


def wait_for(condition: Any, what: str, timeout: float, procs: Processes) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{procs.logs()}")
        time.sleep(0.2)


def query(database: str, sql: str) -> list[dict[str, Any]]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(database, row_factory=dict_row) as conn:
        return list(conn.execute(sql).fetchall())


def workers_up(database: str) -> int:
    [row] = query(database, "SELECT count(*) AS n FROM procrastinate_workers")
    return int(row["n"])
