"""Voice notes become pt-BR text via Whisper; every provider failure is TranscriptionFailed."""

from __future__ import annotations

import httpx
import pytest
from vcr_config import block_network, make_vcr

from atende.agent.transcribe import FakeTranscriber, Transcriber, WhisperTranscriber
from atende.errors import ConfigError, TranscriptionFailed

OGG = b"OggS\x00\x02" + bytes(64)  # the start of an Ogg/Opus voice note; content is irrelevant


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return block_network(monkeypatch)


def mock_client(
    *responses: httpx.Response | Exception,
) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    """An httpx client answering each request with the next response (or raising it)."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses[len(seen) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


async def test_replayed_transcription_returns_the_patients_words(offline: list[object]) -> None:
    transcriber: Transcriber = WhisperTranscriber("test-key")

    with make_vcr().use_cassette("openai_transcription_ptbr.yaml") as cassette:
        text = await transcriber.transcribe(OGG, filename="voice.ogg", mime_type="audio/ogg")

    assert text == "Oi, queria marcar uma limpeza para amanhã de manhã."
    assert cassette.all_played
    assert offline == []


async def test_request_asks_whisper_for_portuguese_and_sends_the_audio() -> None:
    http, seen = mock_client(httpx.Response(200, json={"text": " Quero desmarcar. "}))
    transcriber = WhisperTranscriber("test-key", http_client=http, base_url="http://stt.local/v1")

    text = await transcriber.transcribe(OGG, filename="voice.ogg", mime_type="audio/ogg")

    assert text == "Quero desmarcar."
    (request,) = seen
    assert str(request.url) == "http://stt.local/v1/audio/transcriptions"
    assert request.headers["authorization"] == "Bearer test-key"
    body = request.content
    assert b'name="model"\r\n\r\nwhisper-1\r\n' in body
    assert b'name="language"\r\n\r\npt\r\n' in body
    assert b'filename="voice.ogg"' in body
    assert b"Content-Type: audio/ogg" in body
    assert OGG in body
    await http.aclose()


def _error(status: int, message: str) -> httpx.Response:
    # retry-after-ms keeps the SDK's retry sleep to a millisecond.
    body = {"error": {"message": message, "type": "server_error", "code": None}}
    return httpx.Response(status, json=body, headers={"retry-after-ms": "1"})


@pytest.mark.parametrize(
    ("responses", "attempts"),
    [
        pytest.param([_error(401, "Incorrect API key provided")], 1, id="401-not-retried"),
        pytest.param([_error(500, "boom"), _error(500, "boom")], 2, id="500-after-retry"),
        pytest.param([httpx.ConnectError("refused")] * 2, 2, id="connection-error"),
        pytest.param([httpx.Response(200, json={"text": "  "})], 1, id="empty-transcript"),
        pytest.param([httpx.Response(200, text="<html>gateway</html>")], 1, id="not-json"),
    ],
)
async def test_provider_failures_become_transcription_failed(
    responses: list[httpx.Response | Exception], attempts: int
) -> None:
    http, seen = mock_client(*responses)
    transcriber = WhisperTranscriber("test-key", http_client=http, max_retries=1)

    with pytest.raises(TranscriptionFailed):
        await transcriber.transcribe(OGG, filename="voice.ogg", mime_type="audio/ogg")

    assert len(seen) == attempts
    await http.aclose()


async def test_an_empty_voice_note_fails_without_calling_the_provider() -> None:
    http, seen = mock_client()
    transcriber = WhisperTranscriber("test-key", http_client=http)

    with pytest.raises(TranscriptionFailed):
        await transcriber.transcribe(b"", filename="voice.ogg", mime_type="audio/ogg")

    assert seen == []
    await http.aclose()


def test_a_blank_api_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        WhisperTranscriber("  ")


async def test_fake_transcriber_with_one_text_answers_every_note() -> None:
    fake = FakeTranscriber("quero marcar uma limpeza")

    text = await fake.transcribe(OGG, filename="a.ogg", mime_type="audio/ogg")

    assert text == "quero marcar uma limpeza"
    assert fake.calls == ["a.ogg"]
    assert isinstance(fake, Transcriber)  # TurnContext's schema validates it at runtime


async def test_fake_transcriber_looks_up_audio_then_filename_and_fails_on_unknown() -> None:
    fake = FakeTranscriber({OGG: "pelo áudio", "b.ogg": "pelo nome"})

    assert await fake.transcribe(OGG, filename="x.ogg", mime_type="audio/ogg") == "pelo áudio"
    assert await fake.transcribe(b"other", filename="b.ogg", mime_type="audio/ogg") == "pelo nome"
    with pytest.raises(TranscriptionFailed):
        await fake.transcribe(b"other", filename="c.ogg", mime_type="audio/ogg")
