"""The graph state of one conversation (checkpointed per thread `tenant:phone`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


@dataclass(frozen=True)
class AudioInput:
    """A voice note waiting for transcription (never persisted past the transcribe node)."""

    data: bytes
    filename: str = "audio.ogg"
    mime_type: str = "audio/ogg"
    transcript: str | None = None  # already known (e.g. an eval fixture); skips the Transcriber


class AgentState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    audio: list[AudioInput]
    system_prompt: str
    prompt_version: str
    guard_feedback: str | None
    guard_attempts: int
    write_refusals: int  # write tool calls the write guard refused this turn
    model_calls: int
    fell_back: bool  # the primary model failed this turn; the fallback answers the rest
    reply: str | None
    choices: list[dict[str, str]] | None  # the options the reply offers (`Choice.to_dict()`)
    human_synced_at: str | None  # ISO time up to which clinic staff messages were injected
