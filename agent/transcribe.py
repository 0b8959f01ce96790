"""Voice-note transcription: the Transcriber protocol, OpenAI Whisper, and a fake for tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import httpx
import openai

from atende.agent.models.openai import OPENAI_ERRORS
from atende.errors import ConfigError, TranscriptionFailed


# runtime_checkable: TurnContext holds one, and langchain builds a pydantic schema of the
# context for tools (ToolRuntime) whose isinstance check needs a checkable protocol.
@runtime_checkable
class Transcriber(Protocol):
    async def transcribe(self, audio: bytes, *, filename: str, mime_type: str) -> str:
        """The spoken text of `audio`, stripped and non-empty; else TranscriptionFailed."""
        ...


class WhisperTranscriber:
    """OpenAI's `POST /v1/audio/transcriptions` (or any compatible server at `base_url`).

    Retries (connection errors, 408/409/429/5xx, honouring Retry-After) happen inside the
    openai SDK, `max_retries` times; see `atende.agent.models.openai`. When `http_client` is
    given the caller owns it; otherwise `aclose()` closes the SDK's own client.
    """

    def __init__(
        self,
        api_key: str,
        *,
        model: str = "whisper-1",
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        language: str = "pt",
        max_retries: int = 2,
        timeout: float = 60.0,
    ) -> None:
        if not api_key.strip():
            raise ConfigError("an API key is required", source="settings", field="OPENAI_API_KEY")
        self.model = model
        self.language = language
        self._owns_http_client = http_client is None
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            http_client=http_client,  # type: ignore[arg-type]  # openai 3.x types httpx2
            max_retries=max_retries,
            timeout=timeout,
        )

    async def transcribe(self, audio: bytes, *, filename: str, mime_type: str) -> str:
        if not audio:
            raise TranscriptionFailed("the voice note is empty (0 bytes)")
        try:
            result = await self._client.audio.transcriptions.create(
                file=(filename, audio, mime_type),
                model=self.model,
                language=self.language,
                response_format="json",
            )
        except OPENAI_ERRORS as exc:
            raise TranscriptionFailed(
                f"{self.model} could not transcribe {filename}: {type(exc).__name__}: {exc}"
            ) from exc
        # A non-JSON 200 (an HTML error page from a proxy) arrives as a bare str: not a transcript.
        text = getattr(result, "text", None)
        if not isinstance(text, str) or not text.strip():
            raise TranscriptionFailed(f"{self.model} returned no text for {filename}")
        return text.strip()

    async def aclose(self) -> None:
        if self._owns_http_client:
            await self._client.close()


class FakeTranscriber:
    """A Transcriber for tests and evals: one fixed text, or texts looked up per voice note.

    With a mapping, the audio bytes are looked up first, then the filename; a voice note in
    neither (or mapped to blank text) raises TranscriptionFailed, which is how a test drives
    the "could not understand the audio" path. `calls` records the filenames transcribed.
    """

    def __init__(self, texts: str | Mapping[bytes | str, str]) -> None:
        self._texts = texts
        self.calls: list[str] = []

    async def transcribe(self, audio: bytes, *, filename: str, mime_type: str) -> str:
        self.calls.append(filename)
        if isinstance(self._texts, str):
            text = self._texts
        else:
            text = self._texts.get(audio, self._texts.get(filename, ""))
        if not text.strip():
            raise TranscriptionFailed(f"fake transcriber has no text for {filename}")
        return text.strip()
