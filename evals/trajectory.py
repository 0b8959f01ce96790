"""What one trial produced, as graders read it: the turns (replies, tool calls with arguments
and results) and the world before and after (appointments, leads, the conversation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from atende.evals.seed import Lead, Row


@dataclass(frozen=True)
class ToolCall:
    name: str
    args: dict[str, Any]
    ok: bool
    result: dict[str, Any] | None = None


@dataclass
class TurnRecord:
    user: str | None  # what the patient typed (None for a voice note alone)
    reply: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    transcript: str | None = None  # the voice note's text
    skipped: str | None = None  # "human": the bot stayed quiet
    handoff: bool = False
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_estimated: bool = False  # counted with tiktoken: the model reported no usage
    latency_ms: float = 0.0
    simulated: bool = False  # written by the LLM-simulated patient
    error: str | None = None  # the turn failed: an exception, or the agent's apology
    crashed: bool = False  # an exception escaped run_turn: the conversation stopped there
    sent: list[tuple[str, str]] = field(default_factory=list)  # (phone, text) the clinic wrote first

    @property
    def said(self) -> str:
        """The patient's message as the agent got it (text and/or voice note)."""
        parts = [p for p in (self.user, f"[áudio] {self.transcript}" if self.transcript else None)
                 if p]
        return "\n".join(parts)


@dataclass
class Trajectory:
    turns: list[TurnRecord] = field(default_factory=list)
    seeded: list[Row] = field(default_factory=list)
    final: list[Row] = field(default_factory=list)
    leads_before: dict[tuple[str, str], Lead | None] = field(default_factory=dict)
    leads_after: dict[tuple[str, str], Lead | None] = field(default_factory=dict)
    status_before: str | None = None  # the patient's conversation: None, "active" or "human"
    status_after: str | None = None

    @property
    def replies(self) -> list[str]:
        return [t.reply for t in self.turns if t.reply]

    @property
    def calls(self) -> list[ToolCall]:
        return [c for t in self.turns for c in t.tool_calls]


@dataclass(frozen=True)
class Check:
    name: str  # "appointments", "turns[2].contains_any", "rule:prices_grounded", ...
    passed: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}
