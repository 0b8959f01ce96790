"""Property: no request a client can send makes either webhook answer 5xx.

Hypothesis takes the real corpus payloads (tests/corpora), points them at the example clinic,
mutates one to three of their fields (ids, timestamps, strings with lone surrogates, NULs or
huge lengths, wrong types, deep nesting, deleted keys), sometimes mangles the bytes (cut short,
gzip, a nesting prefix), and posts the result through the real app (lifespan, SQLite store,
dispatcher): Meta's signed with the clinic's app secret, so it gets past authentication, and
Z-API's with the URL secret. Every answer must be below 500, and every 4xx must have the error
shape. Each route gets at least `EXAMPLES` requests (derandomized, so CI sees the same ones).
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_harness import (
    CORPORA,
    META_PHONE_NUMBER_ID,
    ZAPI_INSTANCE,
    ZAPI_URL,
    Running,
    running,
    signed,
)

from atende.server.channels.meta.signature import meta_signature

EXAMPLES = 2000
ERROR_KEYS = {"request_id", "code", "message"}


def _corpus(folder: str, key: str) -> list[dict[str, Any]]:
    payloads = []
    for path in sorted((CORPORA / folder).glob("*.json")):
        payload = json.loads(path.read_text("utf-8"))
        if isinstance(payload, dict) and key in payload:  # webhooks, not API requests/answers
            payloads.append(payload)
    return payloads


def _ours_meta(payload: dict[str, Any]) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    for entry in payload.get("entry", []):
        for change in entry.get("changes", []):
            value = change.get("value")
            if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
                value["metadata"]["phone_number_id"] = META_PHONE_NUMBER_ID
    return payload


META = [_ours_meta(p) for p in _corpus("meta", "object")]
ZAPI = [{**p, "instanceId": ZAPI_INSTANCE} for p in _corpus("zapi", "type")]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if path:
        yield path
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield from _paths(child, (*path, key))


def _nested(depth: int) -> Any:
    value: Any = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


_CHARS = st.sampled_from(["a", "é", "😀", "\ud800", "\udfff", "\x00", "\u202e", "\n", "\\", '"', " "])
STRINGS = st.one_of(
    st.text(_CHARS | st.characters(), max_size=40),
    st.sampled_from(["", " ", "wamid.", "5511987650101", "+5511987650101", "status@broadcast",
                     "123@lid", "1203630-group", "ReceivedCallback", "text", "audio", "messages"]),
    st.integers(4000, 300_000).map(lambda n: "a" * n),  # past the text limit, ids far too long
)
NUMBERS = st.one_of(
    st.integers(-(10**20), 10**20),
    st.sampled_from([0, -1, -62135596800, -59042995200, 32503680000, 253402300800,
                     -62135596800000, 1757390383001, 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
)
VALUES = st.one_of(
    STRINGS, NUMBERS, NUMBERS.map(str), st.none(), st.booleans(), st.just([]), st.just({}),
    st.integers(1, 200).map(_nested),
    st.lists(STRINGS, max_size=3), st.dictionaries(STRINGS, STRINGS, max_size=3),
)
DELETE = object()


@st.composite
def mutated(draw: st.DrawFn, corpus: list[dict[str, Any]]) -> dict[str, Any]:
    payload = copy.deepcopy(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(payload))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = payload
        for key in path[:-1]:
            parent = parent[key]
        value = draw(st.one_of(VALUES, st.just(DELETE)))
        if value is DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return payload


@st.composite
def requests(draw: st.DrawFn, corpus: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    """(body, headers): mutated JSON, sometimes mangled on the way."""
    body = json.dumps(draw(mutated(corpus))).encode()  # lone surrogates travel as \\ud800
    headers = {"Content-Type": "application/json"}
    wire = draw(st.sampled_from(["plain"] * 6 + ["gzip", "cut", "nest", "latin-1"]))
    if wire == "gzip":
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    elif wire == "cut":
        body = body[: draw(st.integers(0, max(len(body) - 1, 0)))]
    elif wire == "nest":
        body = b"[" * draw(st.integers(60, 120_000)) + body
    elif wire == "latin-1":
        body = body.replace(b"a", b"\xe1", 1)
    return body, headers


def _check(answer: Any) -> None:
    assert answer.status_code < 500, answer.text[:500]
    if answer.status_code >= 400:
        shape = answer.json()
        assert ERROR_KEYS <= set(shape) <= ERROR_KEYS | {"hint"}, shape


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[asyncio.Runner, Running]]:
    """One app for every example (a fresh one per example would be 50x slower), on a loop of
    its own: the dispatcher's turns run while the examples' requests do."""
    folder: Path = tmp_path_factory.mktemp("property")
    runner = asyncio.Runner()
    context = running(folder)
    srv = runner.run(context.__aenter__())
    yield runner, srv
    runner.run(context.__aexit__(None, None, None))
    runner.close()


PROPERTY = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("route", ["meta", "zapi"])
def test_a_webhook_never_answers_5xx(server: tuple[asyncio.Runner, Running], route: str) -> None:
    runner, srv = server
    sent = 0

    @PROPERTY
    @given(requests(META if route == "meta" else ZAPI))
    def post(request: tuple[bytes, dict[str, str]]) -> None:
        nonlocal sent
        body, headers = request
        if route == "meta":  # signed, so the body gets past authentication
            headers = {**headers, "X-Hub-Signature-256": meta_signature(body, "meta-app-secret")}
        url = "/webhooks/meta" if route == "meta" else ZAPI_URL
        _check(runner.run(srv.client.post(url, content=body, headers=headers)))
        sent += 1

    post()
    assert sent >= EXAMPLES
    print(f"{route}: {sent} requests")


def test_the_corpus_still_goes_in_whole(server: tuple[asyncio.Runner, Running]) -> None:
    """The unmutated corpus is accepted (so the property is not passing on refusals alone)."""
    runner, srv = server
    for payload in META:
        body, headers = signed(payload)
        assert runner.run(srv.client.post("/webhooks/meta", content=body, headers=headers)
                          ).status_code == 200
    for payload in ZAPI:
        assert runner.run(srv.client.post(ZAPI_URL, json=payload)).status_code == 200
