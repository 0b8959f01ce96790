"""No cassette in the repository holds an API key, a bearer token or a patient's phone number."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx
import pytest
import yaml
from vcr_config import CASSETTES_DIR, block_network, find_leaks, make_vcr

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", ".mypy_cache", ".ruff_cache"}


def repo_cassettes(root: Path = ROOT) -> list[Path]:
    """Every cassette under `root`: tests/cassettes/ and the eval suites' own
    (evals/suites/<suite>/cassettes/<scenario>-t<trial>.yaml, written by `atende eval run --record`)."""
    found = [
        path
        for path in root.rglob("*.y*ml")
        if "cassettes" in path.relative_to(root).parts
        and not SKIP_DIRS.intersection(path.relative_to(root).parts)
    ]
    return sorted(found)


@pytest.mark.parametrize("path", repo_cassettes(), ids=lambda p: str(p.relative_to(ROOT)))
def test_cassette_has_no_secrets_or_phone_numbers(path: Path) -> None:
    assert find_leaks(path.read_text(encoding="utf-8", errors="replace")) == []


def test_the_shared_cassettes_are_found() -> None:
    assert CASSETTES_DIR / "openai_chat_tool_call.yaml" in repo_cassettes()


def test_eval_suite_cassettes_are_checked_too(tmp_path: Path) -> None:
    tape = tmp_path / "evals" / "suites" / "core" / "cassettes" / "book-t1.yaml"
    tape.parent.mkdir(parents=True)
    tape.write_text("body: 'Authorization: Bearer sk-proj-AbC123dEf456GhI789 +5511987654321'\n")
    (tmp_path / ".venv" / "cassettes").mkdir(parents=True)
    (tmp_path / ".venv" / "cassettes" / "vendored.yaml").write_text("x: 1\n")
    assert repo_cassettes(tmp_path) == [tape]
    assert len(find_leaks(tape.read_text())) == 3


LEAKS = [
    "+5511987654321",
    "+55 (11) 98765-4321",
    "+55 11 3456-7890",
    "5511987654321",
    "?to=%2B5511987654321",
    "(21) 99876-5432",
    "+14155550100",
    "sk-proj-AbC123dEf456GhI789",
    "Bearer eyJhbGciOiJIUzI1NiJ9",
]
HARMLESS = [
    "+5500000000001",
    "5500000000002",
    "?to=%2B5500000000003",
    '"created": 1749650400',
    "chatcmpl-toolcall0001",
    "2025-06-12T09:00:00-03:00",
    "req_chat_tool_call_0001",
    "task-runner",
    "R$ 150,00",
]


@pytest.mark.parametrize("leak", LEAKS)
def test_leaks_are_detected(leak: str) -> None:
    assert find_leaks(f'{{"to": "{leak}"}}')


@pytest.mark.parametrize("harmless", HARMLESS)
def test_ordinary_values_are_not_flagged(harmless: str) -> None:
    assert find_leaks(harmless) == []


WHATSAPP = "https://graph.facebook.com/v21.0/1234567890/messages"


def _whatsapp_server(request: httpx.Request) -> httpx.Response:
    body = json.dumps(
        {"contacts": [{"input": "+5511987654321", "wa_id": "5511987654321"}],
         "messages": [{"id": "wamid.HBgN"}], "echo": "ligue (21) 99876-5432"}
    ).encode()  # fmt: skip
    headers = {
        "content-type": "application/json",
        "content-encoding": "gzip",
        "set-cookie": "session=abc123",
    }
    return httpx.Response(200, content=gzip.compress(body), headers=headers)


async def _send(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(
        WHATSAPP,
        params={"recipient": "+5511987654321"},
        headers={"Authorization": "Bearer EAAGm0PX4ZCpsBAKZBZB", "api-key": "sk-live-secret-123456"},
        json={"to": "+55 11 98765-4321", "text": {"body": "Confirmado! Dúvidas: (11) 3456-7890"}},
    )


def stored_uri(cassette: str) -> str:
    return yaml.safe_load(cassette)["interactions"][0]["request"]["uri"]


async def test_recording_scrubs_keys_and_phones_and_replay_still_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = block_network(monkeypatch)
    client = httpx.AsyncClient(transport=httpx.MockTransport(_whatsapp_server))

    with make_vcr(cassette_library_dir=str(tmp_path), record_mode="once").use_cassette("wa.yaml"):
        live = await _send(client)
    saved = (tmp_path / "wa.yaml").read_text(encoding="utf-8")

    assert live.json()["contacts"][0]["wa_id"] == "5511987654321"  # the caller saw the real reply
    assert find_leaks(saved) == []
    assert stored_uri(saved).endswith("?recipient=%2B5500000000001")
    assert "session=abc123" not in saved and "EAAGm0PX4ZCpsBAKZBZB" not in saved
    stored = yaml.safe_load(saved)["interactions"][0]
    reply = json.loads(stored["response"]["body"]["string"])
    # One patient, written four ways, stays one (fake) patient; the clinic's number is another.
    assert reply["contacts"][0] == {"input": "+5500000000001", "wa_id": "5500000000001"}
    assert json.loads(stored["request"]["body"]) == {
        "to": "+5500000000001",
        "text": {"body": "Confirmado! Dúvidas: 5500000000002"},
    }

    # Replaying with the real number in the URL matches the scrubbed recording.
    with make_vcr(cassette_library_dir=str(tmp_path)).use_cassette("wa.yaml") as cassette:
        replayed = await _send(client)
    assert cassette.all_played
    assert replayed.json()["contacts"][0]["wa_id"] == "5500000000001"
    assert attempts == []
    await client.aclose()
