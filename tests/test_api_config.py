"""The clinic configuration through the staff API: an owner reads it, saves a new version
(validated like the YAML), reads the history and a diff, rolls back; the agent in this process
quotes the new price on the next turn. Other roles and other clinics are refused in the error
shape, and a refused call changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from server_harness import ZAPI_URL, running, zapi_text
from test_api_auth import ADMIN, add_staff, api_token, shape

from atende.tenant import load_tenant_file
from atende.tenant_db import TenantWatcher, document


async def bearer(srv: Any, email: str, role: str = "owner", tenant: str = "clinica-exemplo"
                 ) -> dict[str, str]:
    secret, _ = await api_token(srv, await add_staff(srv, email, role, tenant), tenant=tenant)
    return {"Authorization": f"Bearer {secret}"}


def priced(doc: dict[str, Any], service: str, price: Any) -> dict[str, Any]:
    services = [{**s, "price": price} if s["id"] == service else s for s in doc["services"]]
    return {**doc, "services": services}


async def test_an_owner_changes_a_price_and_the_next_turn_quotes_it(tmp_path) -> None:
    async with running(tmp_path) as srv:
        owner = await bearer(srv, "dona@clinica.com.br")
        current = (await srv.client.get("/api/v1/config", headers=owner)).json()
        assert current["version"] == 1 and current["author"] == "file:clinica-exemplo.yaml"
        saved = await srv.client.put("/api/v1/config?note=reajuste", headers=owner,
                                     json=priced(current["document"], "avaliacao", 135))
        same = await srv.client.put("/api/v1/config", headers=owner,
                                    json=priced(current["document"], "avaliacao", "135.00"))
        await srv.client.post(ZAPI_URL, json=zapi_text("Quanto custa a avaliação?"))
        await srv.settle()
        [turn] = await srv.services.atende.store.list_turns(
            (await srv.services.atende.store.list_conversations("clinica-exemplo"))[0].id)
        versions = (await srv.client.get("/api/v1/config/versions", headers=owner)).json()
        diff = (await srv.client.get("/api/v1/config/diff?a=1&b=2", headers=owner)).json()
    assert saved.status_code == 200, saved.text
    assert saved.json() | {"created_at": None} == {
        "version": 2, "author": "staff:dona@clinica.com.br", "note": "reajuste",
        "rollback_of": None, "created_at": None, "changed": True}
    assert same.json()["changed"] is False and same.json()["version"] == 2
    assert any("R$ 135,00" in text for text in srv.providers.to("5511987650101"))
    assert turn.config_version == 2
    assert [v["version"] for v in versions["versions"]] == [2, 1]
    assert "-  price: 120.0\n+  price: 135.0\n" in diff["diff"]


async def test_a_rollback_is_a_new_version_equal_to_the_old_one(tmp_path) -> None:
    async with running(tmp_path) as srv:
        owner = await bearer(srv, "dona@clinica.com.br")
        first = (await srv.client.get("/api/v1/config", headers=owner)).json()
        await srv.client.put("/api/v1/config", headers=owner,
                             json=priced(first["document"], "avaliacao", 99))
        back = await srv.client.post("/api/v1/config/rollback/1", headers=owner)
        now = (await srv.client.get("/api/v1/config", headers=owner)).json()
        unknown = await srv.client.post("/api/v1/config/rollback/9", headers=owner)
        quoted = srv.services.tenants.get("clinica-exemplo").service("avaliacao").price
    assert back.json()["version"] == 3 and back.json()["rollback_of"] == 1
    assert now["document"] == first["document"] and now["version"] == 3
    assert quoted == 120
    shape(unknown, 404, "not_found")


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: priced(d, "avaliacao", "caro"), "services[0].price"),
    (lambda d: priced(d, "avaliacao", -1), "services[0].price"),
    (lambda d: {**d, "timezone": "Marte/Olimpo"}, "timezone"),
    (lambda d: {**d, "services": []}, "services"),
    (lambda d: {**d, "surprise": 1}, "surprise"),
    (lambda d: {**d, "id": "outra-clinica"}, "id"),
    (lambda d: {**d, "professionals": [{**d["professionals"][0], "services": ["nada"]}]},
     "professionals[0].services"),
])
async def test_a_wrong_document_is_422_naming_the_field_and_saves_nothing(tmp_path, change,
                                                                         field) -> None:
    async with running(tmp_path) as srv:
        owner = await bearer(srv, "dona@clinica.com.br")
        doc = (await srv.client.get("/api/v1/config", headers=owner)).json()["document"]
        answer = await srv.client.put("/api/v1/config", headers=owner, json=change(doc))
        history = await srv.services.atende.store.config_history("clinica-exemplo")
    body = shape(answer, 422, "invalid_config")
    assert body["details"]["field"] == field and field in body["message"] and body["hint"]
    assert [c.version for c in history] == [1]


@pytest.mark.parametrize("body", [[1, 2], "texto", None])
async def test_a_body_that_is_not_an_object_is_422(tmp_path, body) -> None:
    async with running(tmp_path) as srv:
        owner = await bearer(srv, "dona@clinica.com.br")
        answer = await srv.client.put("/api/v1/config", headers=owner, json=body)
        history = await srv.services.atende.store.config_history("clinica-exemplo")
    shape(answer, 422, "invalid_request")
    assert len(history) == 1


@pytest.mark.parametrize("role", ["reception", "readonly"])
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/config"), ("PUT", "/api/v1/config"), ("GET", "/api/v1/config/versions"),
    ("GET", "/api/v1/config/diff?a=1&b=1"), ("POST", "/api/v1/config/rollback/1"),
])
async def test_only_owners_reach_the_configuration(tmp_path, role, method, path) -> None:
    async with running(tmp_path) as srv:
        who = await bearer(srv, f"{role}@clinica.com.br", role)
        doc = document(srv.services.tenants.get("clinica-exemplo"))
        answer = await srv.client.request(method, path, headers=who,
                                          json=priced(doc, "avaliacao", 1) if method == "PUT"
                                          else None)
        history = await srv.services.atende.store.config_history("clinica-exemplo")
    assert shape(answer, 403, "forbidden")["hint"]
    assert len(history) == 1


async def test_another_clinic_is_404_and_untouched(tmp_path) -> None:
    async with running(tmp_path) as srv:
        store = srv.services.atende.store
        other = load_tenant_file(tmp_path / "tenants" / "clinica-exemplo.yaml")
        other = other.model_copy(update={"id": "clinica-outra", "name": "Outra"})
        await store.config_put("clinica-outra", document(other), author="test")
        assert await TenantWatcher(store, srv.services.tenants).refresh() == ["clinica-outra"]
        owner = await bearer(srv, "dona@clinica.com.br")
        theirs = await bearer(srv, "dona@outra.com.br", tenant="clinica-outra")
        named = await srv.client.get("/api/v1/config?tenant=clinica-outra", headers=owner)
        put = await srv.client.put("/api/v1/config?tenant=clinica-outra", headers=owner,
                                   json=priced(document(other), "avaliacao", 1))
        foreign_id = await srv.client.put("/api/v1/config", headers=owner,
                                          json=priced(document(other), "avaliacao", 1))
        rollback = await srv.client.post("/api/v1/config/rollback/1?tenant=clinica-outra",
                                         headers=owner)
        own = await srv.client.get("/api/v1/config", headers=theirs)
        admin = await srv.client.get("/api/v1/config?tenant=clinica-outra", headers=ADMIN)
    shape(named, 404, "not_found")
    shape(put, 404, "not_found")
    shape(rollback, 404, "not_found")
    assert shape(foreign_id, 422, "invalid_config")["details"]["field"] == "id"
    assert own.json()["tenant_id"] == "clinica-outra" and own.json()["version"] == 1
    assert admin.json()["version"] == 1  # nothing the other clinic's owner tried was saved


async def test_diff_of_unknown_or_wrong_versions(tmp_path) -> None:
    async with running(tmp_path) as srv:
        owner = await bearer(srv, "dona@clinica.com.br")
        unknown = await srv.client.get("/api/v1/config/diff?a=1&b=7", headers=owner)
        words = await srv.client.get("/api/v1/config/diff?a=um&b=2", headers=owner)
        zero = await srv.client.get("/api/v1/config/diff?a=0&b=1", headers=owner)
    shape(unknown, 404, "not_found")
    assert shape(words, 422, "invalid_request")["details"]["field"] == "query.a"
    shape(zero, 422, "invalid_request")
