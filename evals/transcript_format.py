"""The exported transcript format (`atende-transcript/1`, one conversation per JSONL line): its
models, and reading a file with errors that name the line.

    {"format": "atende-transcript/1", "tenant": "clinica-exemplo", "phone": "+55…-a1b2c3-21",
     "channel": "console", "status": "active", "conversation": "<uuid>", "exported_at": "...",
     "turns": [
       {"kind": "agent", "id": "<turn uuid>", "at": "...", "finished_at": "...",
        "patient": [{"at": "...", "type": "text", "text": "Oi", "transcript": null}],
        "reply": "...", "tool_calls": [{"name", "args", "ok", "result"}],
        "model": "offline", "prompt_version": "1f2e3d4c5b6a", "tokens_in": 0, "tokens_out": 0,
        "outcome": "replied"},
       {"kind": "staff", "at": "...", "text": "..."},        # typed by a person at the clinic
       {"kind": "patient", "at": "...", "type": "text", "text": "...", "reason": "human_takeover"},
       {"kind": "auto", "at": "...", "text": "..."}]}       # sent outside any agent turn

`patient` entries are messages no agent turn answered; `auto` ones are fixed replies (unsupported
media, an unreadable voice note). Times are ISO-8601 in UTC.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from atende.errors import ConfigError

FORMAT: Final = "atende-transcript/1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PatientMessage(_Model):
    at: AwareDatetime
    type: str = "text"  # text | audio | image | ...
    text: str | None = None
    transcript: str | None = None  # a voice note as the agent heard it


class ToolCall(_Model):
    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    ok: bool = False
    result: dict[str, Any] | None = None


class AgentTurn(_Model):
    kind: Literal["agent"] = "agent"
    id: str | None = None
    at: AwareDatetime
    finished_at: AwareDatetime | None = None
    patient: list[PatientMessage] = Field(default_factory=list)
    reply: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    model: str | None = None
    prompt_version: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    outcome: str | None = None

    @property
    def text(self) -> str:
        """The patient's written words of this turn, as the agent received them."""
        return "\n".join(m.text.strip() for m in self.patient if m.text and m.text.strip())

    @property
    def transcripts(self) -> list[str]:
        return [m.transcript for m in self.patient if m.type == "audio" and m.transcript]


class StaffMessage(_Model):
    kind: Literal["staff"]
    at: AwareDatetime
    text: str | None = None


class UnansweredMessage(PatientMessage):
    kind: Literal["patient"]
    reason: str | None = None


class AutoReply(_Model):
    kind: Literal["auto"]
    at: AwareDatetime
    text: str | None = None


Entry = Annotated[AgentTurn | StaffMessage | UnansweredMessage | AutoReply,
                  Field(discriminator="kind")]


class Transcript(_Model):
    format: Literal["atende-transcript/1"] = FORMAT
    tenant: str
    phone: str  # pseudonymised
    channel: str = "console"
    status: str = "active"
    conversation: str | None = None
    exported_at: AwareDatetime | None = None
    turns: list[Entry] = Field(default_factory=list)

    @property
    def agent_turns(self) -> list[AgentTurn]:
        return [t for t in self.turns if isinstance(t, AgentTurn)]

    def to_line(self) -> str:
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False)


def read_transcripts(path: Path) -> list[tuple[int, Transcript]]:
    """Every non-blank line of `path` with its line number; `ConfigError` naming the first bad
    line ("file.jsonl:3: malformed JSON ...")."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError("file not found", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read ({exc})", source=str(path)) from None
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"malformed JSON line {number} ({exc.msg} at column {exc.colno})",
                              source=where) from None
        if not isinstance(raw, dict):
            raise ConfigError(f"line {number} is not a JSON object", source=where)
        try:
            out.append((number, Transcript.model_validate(raw)))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"not a transcript on line {number} ({first['msg']})",
                              source=where, field=field or None) from None
    if not out:
        raise ConfigError("no transcripts in the file", source=str(path))
    return out
