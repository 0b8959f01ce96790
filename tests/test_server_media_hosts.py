"""Through the real webhook routes and turns, a media URL from a payload cannot make the server
send the clinic's Meta token anywhere, or reach into its own network: a loopback listener stands
for the internal service and counts what arrives. The patient is asked to type instead."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from provider_stub import ProviderStub
from server_harness import ENV, ZAPI_URL, meta_message, running, signed, zapi_audio
from test_logs import out  # noqa: F401 - the fixture that restores logging afterwards

from atende.agent.nodes import AUDIO_FAILED_REPLY
from atende.errors import ConfigError
from atende.logs import configure_logging

ZAPI_PHONE, META_WA_ID = "5511987650101", "5511987650202"
STORAGE = "https://f004.backblazeb2.com"  # Z-API's storage: allowed by default
META_TOKEN = ENV["CLINICA_EXEMPLO_META_ACCESS_TOKEN"]


@pytest.fixture
def listener() -> Iterator[ProviderStub]:
    """A real TCP listener on 127.0.0.1 that records every request and its headers."""
    with ProviderStub() as stub:
        yield stub


def _meta_audio(**media: Any) -> dict[str, Any]:
    return meta_message({"type": "audio", "audio": {
        "mime_type": "audio/ogg; codecs=opus", "sha256": "x", "voice": True, **media}},
        wa_id=META_WA_ID)


def _storage_redirecting_to(url: str) -> httpx.MockTransport:
    """Z-API's storage host, answering every file with a redirect to `url`."""
    return httpx.MockTransport(lambda request: httpx.Response(302, headers={"location": url}))


async def _answered_without_reaching(srv: Any, listener: ProviderStub, phone: str) -> None:
    await srv.settle()
    assert listener.requests == []  # not one connection made it: no token, no internal GET
    assert srv.providers.to(phone) == [AUDIO_FAILED_REPLY]


@pytest.mark.parametrize("with_id", [False, True], ids=["url-only", "url-and-id"])
async def test_a_signed_meta_media_url_never_gets_the_token(tmp_path, listener, out, with_id):  # noqa: F811
    configure_logging("INFO", json=True, stream=out)
    trap = f"{listener.url}/latest/meta-data/audio.ogg?hash=signed"
    payload = _meta_audio(url=trap, **({"id": "1227829768162607"} if with_id else {}))
    async with running(tmp_path, mounts={}) as srv:
        body, headers = signed(payload)
        answer = await srv.client.post("/webhooks/meta", content=body, headers=headers)
        assert answer.status_code == 200
        await _answered_without_reaching(srv, listener, META_WA_ID)
    logged = out.getvalue()
    assert META_TOKEN not in logged and "/latest/meta-data" not in logged and "hash=" not in logged
    (record,) = [json.loads(line) for line in logged.splitlines() if "media_unavailable" in line]
    # without an id nothing is tried; with one, only the Graph lookup (404 here: gone)
    assert record["reason"] == ("expired" if with_id else "no_source")


async def test_a_zapi_audio_url_on_loopback_is_not_requested(tmp_path, listener, out):  # noqa: F811
    configure_logging("INFO", json=True, stream=out)
    async with running(tmp_path, mounts={}) as srv:
        answer = await srv.client.post(ZAPI_URL, json=zapi_audio(f"{listener.url}/admin/x.ogg"))
        assert answer.status_code == 200
        await _answered_without_reaching(srv, listener, ZAPI_PHONE)
    (record,) = [json.loads(line) for line in out.getvalue().splitlines() if "media_unavailable" in line]
    assert (record["reason"], record["host"]) == ("refused", "127.0.0.1")
    assert "/admin/x.ogg" not in out.getvalue()


async def test_a_redirect_from_zapi_storage_to_loopback_is_not_followed(tmp_path, listener):
    storage = {STORAGE: _storage_redirecting_to(f"{listener.url}/internal/x.ogg")}
    async with running(tmp_path, mounts=storage) as srv:
        answer = await srv.client.post(ZAPI_URL, json=zapi_audio(f"{STORAGE}/file/t/a.ogg"))
        assert answer.status_code == 200
        await _answered_without_reaching(srv, listener, ZAPI_PHONE)


async def test_an_allowlist_that_would_let_anything_through_stops_the_server_at_start(tmp_path):
    with pytest.raises(ConfigError, match="zapi_media_hosts"):
        async with running(tmp_path, settings_overrides={"zapi_media_hosts": ["*"]}):
            pass
