"""The clinic's calendar API (/api/v1) through the app: blocks per professional in the clinic's
local time, conflicts listed and settled; every refusal is `{request_id, code, message}` and
writes nothing; another clinic's rows are not found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from server_harness import running

ADMIN = {"Authorization": "Bearer admin-token"}
CLINIC = "clinica-exemplo"
BLOCKS = "/api/v1/professionals/ana-souza/blocks"
DAY = {"tenant": CLINIC, "from": "2027-03-12", "to": "2027-03-13"}


def _error(answer, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["code"] == code and body["message"] and body["request_id"]
    return body


async def test_a_block_in_local_time_is_listed_and_removed(tmp_path) -> None:
    async with running(tmp_path) as srv:
        made = await srv.client.post(BLOCKS, params={"tenant": CLINIC}, headers=ADMIN, json={
            "start": "2027-03-12T13:00", "end": "2027-03-12T18:00", "reason": "congresso"})
        assert made.status_code == 201, made.text
        block = made.json()
        assert (block["start"], block["end"]) == ("2027-03-12T13:00-03:00", "2027-03-12T18:00-03:00")
        assert block["reason"] == "congresso" and block["professional"] == "Dra. Ana Souza"
        (stored,) = await srv.services.atende.store.blocks_between(
            CLINIC, datetime(2027, 3, 12, tzinfo=UTC), datetime(2027, 3, 13, tzinfo=UTC))
        assert stored.starts_at == datetime(2027, 3, 12, 16, tzinfo=UTC)  # 13:00 in São Paulo
        listed = await srv.client.get(BLOCKS, params=DAY, headers=ADMIN)
        assert [b["id"] for b in listed.json()] == [block["id"]]
        other_day = await srv.client.get(BLOCKS, headers=ADMIN, params={
            "tenant": CLINIC, "from": "2027-03-13T00:00-03:00", "to": "2027-03-14"})
        assert other_day.json() == []
        # with an offset, the offset counts
        utc = await srv.client.post(BLOCKS, params={"tenant": CLINIC}, headers=ADMIN, json={
            "start": "2027-03-15T12:00Z", "end": "2027-03-15T13:00Z"})
        assert utc.json()["start"] == "2027-03-15T09:00-03:00"
        gone = await srv.client.delete(f"{BLOCKS}/{block['id']}", params={"tenant": CLINIC},
                                       headers=ADMIN)
        assert gone.status_code == 200 and gone.json()["id"] == block["id"]
        assert (await srv.client.get(BLOCKS, params=DAY, headers=ADMIN)).json() == []
        _error(await srv.client.delete(f"{BLOCKS}/{block['id']}", params={"tenant": CLINIC},
                                       headers=ADMIN), 404, "not_found")


@pytest.mark.parametrize(("body", "field"), [
    ({"start": "2027-03-12T18:00", "end": "2027-03-12T13:00"}, "end"),
    ({"start": "2027-03-12T13:00", "end": "2027-03-12T13:00"}, "end"),
    ({"start": "2027-03-12T13:00", "end": "2028-03-13T13:00"}, "end"),  # over 366 days
    ({"start": "amanhã", "end": "2027-03-12T13:00"}, "start"),
    ({"start": 1773331200, "end": "2027-03-12T13:00"}, "start"),
    ({"start": "2027-03-12T13:00"}, "end"),
    ({"start": "2027-03-12T13:00", "end": "2027-03-12T14:00", "reason": "x" * 501}, "reason"),
    ({"start": "2027-03-12T13:00", "end": "2027-03-12T14:00", "profissional": "ana"},
     "profissional"),
])
async def test_a_bad_block_is_a_422_naming_the_field_and_writes_nothing(tmp_path, body, field
                                                                         ) -> None:
    async with running(tmp_path) as srv:
        answer = await srv.client.post(BLOCKS, params={"tenant": CLINIC}, headers=ADMIN, json=body)
        assert field in _error(answer, 422, answer.json().get("code", ""))["message"]
        assert answer.json()["code"] in ("invalid_request", "invalid_input")
        assert await srv.services.atende.store.blocks_between(
            CLINIC, datetime(2027, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC)) == []


async def test_unknown_professional_clinic_or_another_clinics_block_are_not_found(tmp_path
                                                                                  ) -> None:
    window = {"start": "2027-03-12T13:00", "end": "2027-03-12T14:00"}
    async with running(tmp_path) as srv:
        store = srv.services.atende.store
        theirs = await store.block_add("outra-clinica", "ana-souza",
                                       starts_at=datetime(2027, 3, 12, 16, tzinfo=UTC),
                                       ends_at=datetime(2027, 3, 12, 17, tzinfo=UTC))
        body = _error(await srv.client.post("/api/v1/professionals/dr-ninguem/blocks",
                                            params={"tenant": CLINIC}, headers=ADMIN,
                                            json=window), 404, "not_found")
        assert "dr-ninguem" in body["message"]
        _error(await srv.client.post(BLOCKS, params={"tenant": "nao-existe"}, headers=ADMIN,
                                     json=window), 404, "unknown_tenant")
        _error(await srv.client.post(BLOCKS, headers=ADMIN, json=window), 422, "invalid_request")
        _error(await srv.client.delete(f"{BLOCKS}/{theirs.id}", params={"tenant": CLINIC},
                                       headers=ADMIN), 404, "not_found")
        mine = await srv.client.post(BLOCKS, params={"tenant": CLINIC}, headers=ADMIN, json=window)
        # Carla's path cannot remove Ana's block
        _error(await srv.client.delete(
            f"/api/v1/professionals/carla-mendes/blocks/{mine.json()['id']}",
            params={"tenant": CLINIC}, headers=ADMIN), 404, "not_found")
        _error(await srv.client.get(BLOCKS, params={**DAY, "to": "2027-03-11"}, headers=ADMIN),
               422, "invalid_input")
        assert len(await store.blocks_between(
            "outra-clinica", theirs.starts_at, theirs.ends_at)) == 1
        assert len(await store.blocks_between(CLINIC, theirs.starts_at, theirs.ends_at)) == 1


async def test_the_api_needs_the_admin_token_before_reading_anything(tmp_path) -> None:
    async with running(tmp_path) as srv:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            _error(await srv.client.post(BLOCKS, params={"tenant": CLINIC}, headers=headers,
                                         json={"start": 5}), 401, "unauthorized")
            _error(await srv.client.get("/api/v1/calendar/conflicts", params={"tenant": CLINIC},
                                        headers=headers), 401, "unauthorized")


async def test_conflicts_are_listed_and_resolved_per_clinic(tmp_path) -> None:
    start = datetime(2027, 3, 12, 16, tzinfo=UTC)
    async with running(tmp_path) as srv:
        store = srv.services.atende.store
        conflict = await store.conflict_add(
            CLINIC, source="google", external_id="evt-1", professional_id="ana-souza",
            starts_at=start, ends_at=start + timedelta(hours=1), appointment_id=None,
            summary="Evento “Dentista” na agenda de Dra. Ana Souza sobrepõe uma consulta.")
        theirs = await store.conflict_add(
            "outra-clinica", source="calendly", external_id="https://api.calendly.com/x",
            professional_id=None, starts_at=start, ends_at=start + timedelta(hours=1),
            appointment_id=None, summary="Convite do Calendly sem profissional.")
        url = "/api/v1/calendar/conflicts"
        listed = await srv.client.get(url, params={"tenant": CLINIC}, headers=ADMIN)
        (row,) = listed.json()
        assert row["id"] == conflict.id and row["start"] == "2027-03-12T13:00-03:00"
        assert row["summary"].startswith("Evento “Dentista”") and row["resolved_at"] is None
        _error(await srv.client.post(f"{url}/{theirs.id}/resolve", params={"tenant": CLINIC},
                                     headers=ADMIN), 404, "not_found")
        done = await srv.client.post(f"{url}/{conflict.id}/resolve", params={"tenant": CLINIC},
                                     headers=ADMIN)
        assert done.status_code == 200 and done.json()["resolved_at"]
        assert (await srv.client.get(url, params={"tenant": CLINIC}, headers=ADMIN)).json() == []
        every = await srv.client.get(url, params={"tenant": CLINIC, "all": "true"}, headers=ADMIN)
        assert [c["id"] for c in every.json()] == [conflict.id]
        _error(await srv.client.get(url, params={"tenant": CLINIC, "limit": "lots"},
                                    headers=ADMIN), 422, "invalid_request")
        assert (await store.conflicts_list("outra-clinica"))[0].open
