"""Webhook bodies at the edge: wire and inflated size caps, decompression bombs, texts past
WhatsApp's limit, and authentication before any expensive work."""

from __future__ import annotations

import gzip
import json
import struct
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import pytest
from server_harness import ZAPI_URL, meta_text, running, signed, zapi_text
from test_logs import out  # noqa: F401 - the fixture that restores logging afterwards

from atende.logs import configure_logging
from atende.server.channels.meta.signature import meta_signature
from atende.server.payloads import TEXT_CUT_MARKER, TEXT_MAX_CHARS

MiB = 1024 * 1024
META_SECRET = "meta-app-secret"


def gzip_bomb(inflated_mib: int) -> bytes:
    """A valid gzip member that inflates to `inflated_mib` MiB of zeros, about 1/1000 of that on
    the wire. Zeros are compressed a MiB at a time with a full flush after each: the compressor's
    state is reset every time, so every MiB after the first compresses to the same bytes, and the
    1 GiB bomb costs 4 MiB of compressing instead of 1 GiB. The trailer (CRC-32, size) is real."""
    zero = bytes(MiB)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = packer.compress(zero) + packer.flush(zlib.Z_FULL_FLUSH)
    middle = packer.compress(zero) + packer.flush(zlib.Z_FULL_FLUSH)
    assert packer.compress(zero) + packer.flush(zlib.Z_FULL_FLUSH) == middle
    last = packer.compress(zero) + packer.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(inflated_mib):
        crc = zlib.crc32(zero, crc)
    trailer = struct.pack("<II", crc, (inflated_mib * MiB) & 0xFFFFFFFF)
    return first + middle * (inflated_mib - 2) + last[:-8] + trailer


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(1024)  # 1 GiB inflated, ~1 MiB on the wire


def test_the_bomb_is_a_real_gzip_of_one_gib() -> None:
    small = gzip_bomb(8)
    assert gzip.decompress(small) == bytes(8 * MiB)
    inflater, total, data = zlib.decompressobj(31), 0, gzip_bomb(1024)
    assert 0.9 * MiB < len(data) < 1.1 * MiB
    while data:  # a streaming check of the big one: never more than 16 MiB at a time
        total += len(inflater.decompress(data, 16 * MiB))
        data = inflater.unconsumed_tail
    while not inflater.eof:
        total += len(inflater.decompress(b"", 16 * MiB))
    assert total == 1024 * MiB


def _bomb_requests(bomb: bytes) -> dict[str, tuple[str, dict[str, str], int]]:
    gz = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    return {
        "zapi": (ZAPI_URL, gz, 413),
        "meta signed": ("/webhooks/meta",
                        {**gz, "X-Hub-Signature-256": meta_signature(bomb, META_SECRET)}, 413),
        "meta unsigned": ("/webhooks/meta", gz, 401),
    }


async def test_a_gzip_bomb_is_refused_fast_and_small(tmp_path, bomb: bytes) -> None:
    """1 GiB inflated, 1 MiB on the wire: 413 (Z-API with its secret; Meta signed) or 401 (Meta
    unsigned) within 100 ms, and under 50 MiB of peak allocations.

    Time is the best of three in-process requests (the ASGI app runs in this process, so this
    is the server's time), without tracing, robust to a loaded machine. Memory is tracemalloc's
    peak over one more request: every byte Python allocates is counted, zlib's buffers included
    (its allocator is PyMem's), and nothing else in the process moves the peak meanwhile, unlike
    RSS, which the allocator does not give back and which other tests have already raised."""
    async with running(tmp_path) as srv:
        for name, (url, headers, status) in _bomb_requests(bomb).items():
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                answer = await srv.client.post(url, content=bomb, headers=headers)
                timings.append(time.perf_counter() - started)
                assert answer.status_code == status, (name, answer.text)
                assert set(answer.json()) == {"request_id", "code", "message"}
            tracemalloc.start()
            try:
                before, _ = tracemalloc.get_traced_memory()
                answer = await srv.client.post(url, content=bomb, headers=headers)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert answer.status_code == status
            assert min(timings) < 0.100, (name, timings)
            assert peak - before < 50 * MiB, (name, (peak - before) / MiB)
        store = srv.services.atende.store
        assert await store.conversations_with_pending() == []
        assert await store.list_poison() == []


async def test_zapi_refuses_a_gzip_body_once_its_inflated_size_passes_the_cap(tmp_path) -> None:
    """64 MiB inflated but 66 KB on the wire: under the wire cap, so the inflated cap refuses it."""
    small_bomb = gzip_bomb(64)
    assert len(small_bomb) < 100 * 1024
    async with running(tmp_path) as srv:
        answer = await srv.client.post(ZAPI_URL, content=small_bomb,
                                       headers={"Content-Encoding": "gzip"})
        zipped = gzip.compress(json.dumps(zapi_text("Oi", phone="5511987650131")).encode())
        cut = await srv.client.post(ZAPI_URL, content=zipped[:-12],
                                    headers={"Content-Encoding": "gzip"})
        fine = await srv.client.post(ZAPI_URL, content=zipped, headers={"Content-Encoding": "gzip"})
        await srv.settle()
    assert (answer.status_code, answer.json()["code"]) == (413, "body_too_large")
    assert "inflated" in answer.json()["message"]
    assert (cut.status_code, cut.json()["code"]) == (400, "invalid_gzip")
    assert fine.status_code == 200 and fine.json()["accepted"] == 1


async def test_a_body_without_content_length_is_cut_off_at_the_cap(tmp_path) -> None:
    """A chunked body (no Content-Length) is read only until it passes the cap; an unsigned Meta
    POST is refused before its body is read at all."""
    pulled = {"zapi": 0, "meta": 0}

    def chunks(name: str) -> AsyncIterator[bytes]:
        async def gen() -> AsyncIterator[bytes]:
            for _ in range(128):  # 8 MiB in 64 KiB chunks
                pulled[name] += 1
                yield b" " * (64 * 1024)
        return gen()

    async with running(tmp_path) as srv:
        zapi = await srv.client.post(ZAPI_URL, content=chunks("zapi"))
        meta = await srv.client.post("/webhooks/meta", content=chunks("meta"))
        declared = await srv.client.post(ZAPI_URL, content=b"{}",
                                         headers={"Content-Length": str(64 * MiB)})
    assert (zapi.status_code, zapi.json()["code"]) == (413, "body_too_large")
    assert pulled["zapi"] <= 1 * MiB // (64 * 1024) + 1  # the Z-API cap is 1 MiB
    assert (meta.status_code, meta.json()["code"]) == (401, "invalid_signature")
    assert pulled["meta"] <= 1
    assert declared.status_code == 413


async def test_a_text_past_whatsapps_limit_is_cut_with_a_marker_and_a_logged_reason(
        tmp_path, out) -> None:  # noqa: F811
    configure_logging("INFO", json=True, stream=out)
    words = "minha dor de dente " * 60_000  # 1.1 MB, under the Meta cap, far past 4,096 chars
    payload = meta_text(words, wa_id="5511987650132")
    body, headers = signed(payload)
    async with running(tmp_path) as srv:
        answer = await srv.client.post("/webhooks/meta", content=body, headers=headers)
        store = srv.services.atende.store
        conversation = await store.find_conversation("clinica-exemplo", "+5511987650132")
        (stored,) = await store.list_messages(conversation.id)
        await srv.settle()
    assert answer.status_code == 200 and answer.json()["accepted"] == 1
    assert len(stored.text) <= TEXT_MAX_CHARS and stored.text.endswith(TEXT_CUT_MARKER)
    assert stored.text.startswith("minha dor de dente")
    assert stored.meta["text_cut_from"] == len(words)
    records = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    (cut,) = [r for r in records if r["event"] == "text_cut"]
    assert cut["reason"] == "longer than WhatsApp's 4096-character limit"
    assert cut["chars"] == len(words)
    assert "dor de dente" not in out.getvalue()
