"""The console's sender: keeps each bubble as the patient would read it (and shows it, when told
how); the choices as numbered lines, like Z-API sends them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from atende.server.senders import SendResult
from atende.tools.choices import Choice, numbered


class ConsoleSender:
    channel = "console"

    def __init__(self, show: Callable[[str], None] | None = None) -> None:
        self.show = show
        self.bubbles: list[str] = []  # sent and not yet taken
        self.recipients: list[str] = []  # the phone each bubble went to

    async def send_text(self, to_phone: str, text: str, *, choices: Sequence[Choice] = ()
                        ) -> SendResult:
        bubble = numbered(text, choices)
        self.bubbles.append(bubble)
        self.recipients.append(to_phone)
        if self.show is not None:
            self.show(bubble)
        return SendResult(provider_message_id=f"console-out-{uuid.uuid4().hex}")

    def take(self) -> list[str]:
        """The bubbles sent since the last call."""
        return [bubble for _, bubble in self.take_sent()]

    def take_sent(self) -> list[tuple[str, str]]:
        """(phone, bubble) of what was sent since the last call."""
        taken = list(zip(self.recipients, self.bubbles, strict=True))
        self.bubbles, self.recipients = [], []
        return taken
