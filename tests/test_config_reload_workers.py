"""A price changed in one process is quoted by a turn in another (issue 12's "Done when"):
`atende serve` and `atende worker` on one Postgres, Z-API played by `ProviderStub`. The owner's
change goes through the server's API (PUT /api/v1/config); the worker, which answers every
turn, is never told: its `TenantWatcher` polls the version in force (every 2 s by default).

What a clinic would notice: after the change, patients are quoted the new price within 5 s,
and each turn's row says which configuration version it ran with."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import Processes, child_env, free_port, query, wait_for, workers_up
from provider_stub import ProviderStub, ZapiAccount
from server_harness import ENV, ZAPI_INSTANCE, ZAPI_URL, make_tenants_dir, zapi_text

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": "Bearer admin-token-for-reload"}
QUESTION = "Quanto custa a avaliação?"
LIMIT_S = 5.0


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _quoted(stub: ProviderStub, phone: str, price: str) -> bool:
    return any(price in r.text for r in stub.sent_to(phone))


def _ask(url: str, phone: str) -> None:
    answer = httpx.post(f"{url}{ZAPI_URL}", json=zapi_text(QUESTION, phone=phone), timeout=5.0)
    assert answer.status_code == 200, answer.text


def test_a_price_changed_through_the_server_is_quoted_by_the_worker(postgres_url: str,
                                                                    tmp_path: Path) -> None:
    tenants = make_tenants_dir(tmp_path, window=0.1, cap=1.0)
    account = ZapiAccount(ZAPI_INSTANCE, ENV["CLINICA_EXEMPLO_ZAPI_TOKEN"],
                          ENV["CLINICA_EXEMPLO_ZAPI_CLIENT_TOKEN"])
    with ProviderStub(zapi=account) as stub:
        env = {**child_env(postgres_url, stub, tenants),
               "ATENDE_ADMIN_TOKEN": ADMIN["Authorization"].split()[1]}
        procs = Processes(tmp_path, env)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        try:
            procs.start("serve", "serve", "--host", "127.0.0.1", "--port", str(port),
                        "--model", "offline")
            wait_for(lambda: _healthy(url), "atende serve to answer /health", 60.0, procs)
            procs.start("worker", "worker", "--model", "offline", "--concurrency", "4")
            wait_for(lambda: workers_up(postgres_url) == 1, "the worker to register", 60.0, procs)
            _ask(url, "5511987650001")
            wait_for(lambda: _quoted(stub, "5511987650001", "R$ 120,00"),
                     "the worker to quote the file's price", 30.0, procs)

            doc: dict[str, Any] = httpx.get(f"{url}/api/v1/config?tenant=clinica-exemplo",
                                            headers=ADMIN).json()["document"]
            doc["services"] = [{**s, "price": 135} if s["id"] == "avaliacao" else s
                               for s in doc["services"]]
            changed_at = time.monotonic()
            saved = httpx.put(f"{url}/api/v1/config?tenant=clinica-exemplo", headers=ADMIN,
                              json=doc, timeout=10.0)
            assert saved.status_code == 200 and saved.json()["version"] == 2, saved.text
            # patients keep asking, one new conversation every 0.25 s, until one hears the
            # new price
            asked, quoted_at = [], None
            while quoted_at is None and time.monotonic() - changed_at < 15:
                phone = f"55119876{60000 + len(asked):05d}"
                _ask(url, phone)
                asked.append(phone)
                deadline = time.monotonic() + 0.25
                while time.monotonic() < deadline and quoted_at is None:
                    if any(_quoted(stub, p, "R$ 135,00") for p in asked):
                        quoted_at = time.monotonic()
                    time.sleep(0.02)
        finally:
            procs.stop()
    assert quoted_at is not None, "the new price was never quoted"
    latency = quoted_at - changed_at
    [first_new] = query(postgres_url, "SELECT min(t.started_at) - c.created_at AS after"
                                      " FROM turns t, tenant_configs c WHERE t.config_version = 2"
                                      " AND c.version = 2 GROUP BY c.created_at")
    turns = query(postgres_url, "SELECT c.phone, t.config_version FROM turns t JOIN conversations c"
                                " ON c.id = t.conversation_id")
    print(f"\nprice change → first turn on the new version: "
          f"{first_new['after'].total_seconds():.2f} s; → reply quoting it: {latency:.2f} s")
    assert latency < LIMIT_S
    assert _quoted(stub, "5511987650001", "R$ 120,00")
    # each turn recorded the version whose price it quoted
    by_phone = {t["phone"].removeprefix("+"): t["config_version"] for t in turns}
    for phone in ["5511987650001", *asked]:
        old, new = _quoted(stub, phone, "R$ 120,00"), _quoted(stub, phone, "R$ 135,00")
        if old or new:  # the last few were still waiting for their turn when it stopped
            assert not (old and new), phone
            assert by_phone[phone] == (2 if new else 1), phone
