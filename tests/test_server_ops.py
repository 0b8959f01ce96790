"""Ops endpoints at the edge: the admin token needs the Bearer scheme, /health tells the public
only up or down, and the Z-API URL does not tell which clinics exist."""

from __future__ import annotations

import time

import pytest
from server_harness import ZAPI_URL, running, zapi_text

from atende.memory import open_store


@pytest.mark.parametrize(("header", "status"), [
    ("Bearer admin-token", 200),
    ("bearer admin-token", 200),
    ("BEARER   admin-token ", 200),
    ("admin-token", 401),  # the bare token used to be accepted
    ("Basic admin-token", 401),
    ("Bearer", 401),
    ("Bearer wrong-token", 401),
    ("Bearer admin-token-and-more", 401),
])
async def test_the_admin_token_needs_the_bearer_scheme(tmp_path, header, status) -> None:
    async with running(tmp_path) as srv:
        answer = await srv.client.get("/admin/dead-letters", headers={"Authorization": header})
    assert answer.status_code == status
    if status == 401:
        assert answer.json()["code"] == "unauthorized"


async def test_health_tells_the_public_up_or_down_and_the_admin_the_details(tmp_path) -> None:
    async with running(tmp_path) as srv:
        public = await srv.client.get("/health")
        bare = await srv.client.get("/health", headers={"Authorization": "admin-token"})
        admin = await srv.client.get("/health", headers={"Authorization": "Bearer admin-token"})
        real = srv.services.atende.store
        # a store whose file cannot be opened: the database is down
        srv.services.atende.store = open_store(f"sqlite:///{tmp_path / 'no' / 'dir' / 'x.db'}")
        down = await srv.client.get("/health")
        down_admin = await srv.client.get("/health", headers={"Authorization": "Bearer admin-token"})
        srv.services.atende.store = real
    assert (public.status_code, public.json()) == (200, {"status": "ok"})
    assert bare.json() == {"status": "ok"}
    assert "clinica-exemplo" not in public.text and "clinica-exemplo" not in bare.text
    assert admin.status_code == 200 and admin.json()["database"] == "connected"
    assert set(admin.json()["tenants"]["clinica-exemplo"]) == {"zapi", "meta"}
    assert (down.status_code, down.json()) == (503, {"status": "down"})
    assert down_admin.status_code == 503
    assert down_admin.json()["database"].startswith("failing: ")


async def test_an_unknown_zapi_clinic_answers_like_a_wrong_secret(tmp_path) -> None:
    """Same status, code and message; and comparable work (a constant-time compare either way)."""
    payload = zapi_text("Oi")
    async with running(tmp_path) as srv:
        answers, timings = {}, {"unknown": [], "wrong": []}
        urls = {"unknown": "/webhooks/zapi/nao-existe/s3cr3t-webhook-path-token",
                "wrong": "/webhooks/zapi/clinica-exemplo/not-the-secret"}
        for _ in range(20):
            for name, url in urls.items():
                started = time.perf_counter()
                answers[name] = await srv.client.post(url, json=payload)
                timings[name].append(time.perf_counter() - started)
        right = await srv.client.post(ZAPI_URL, json=payload)
        await srv.settle()

    def shown(answer):
        return answer.status_code, {k: v for k, v in answer.json().items() if k != "request_id"}

    assert shown(answers["unknown"]) == shown(answers["wrong"]) == (
        401, {"code": "invalid_token", "message": "Wrong or missing webhook secret."})
    assert right.status_code == 200
    fastest = {name: min(t) for name, t in timings.items()}
    assert fastest["unknown"] < 5 * fastest["wrong"] and fastest["wrong"] < 5 * fastest["unknown"]


async def test_health_shows_a_clinics_failing_template_and_paused_proactive_sends(tmp_path) -> None:
    async with running(tmp_path) as srv:
        store = srv.services.atende.store
        await store.set_clinic_flag("clinica-exemplo", "template_failing:lembrete_consulta",
                                    "template_missing: 132001")
        await store.set_clinic_flag("clinica-exemplo", "proactive_paused:account",
                                    "ACCOUNT_RESTRICTION: RESTRICTED_BIZ_INITIATED_MESSAGING")
        admin = await srv.client.get("/health", headers={"Authorization": "Bearer admin-token"})
        public = await srv.client.get("/health")
        listed = await srv.client.get("/admin/reminders", params={"tenant": "clinica-exemplo"},
                                      headers={"Authorization": "Bearer admin-token"})
        bad = await srv.client.get("/admin/reminders",
                                   params={"tenant": "clinica-exemplo", "status": "nope"},
                                   headers={"Authorization": "Bearer admin-token"})
    clinic = admin.json()["tenants"]["clinica-exemplo"]
    assert clinic["template lembrete_consulta"] == "failing: template_missing: 132001"
    assert clinic["proactive"].startswith("failing: paused (ACCOUNT_RESTRICTION")
    assert admin.json()["status"] == "degraded"
    assert public.json() == {"status": "ok"}  # the public learns nothing of it
    assert listed.status_code == 200 and listed.json() == []
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_status" and bad.json()["hint"]
