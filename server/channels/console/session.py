"""`ConsoleSession`: a patient at the console, on the path a WhatsApp message takes.

    say ─► store.inbox_add ─► ConversationTurns.answer (─► run_turn ─► store.complete_turn)
        ─► OutboxWorker.drain ─► ConsoleSender: the bubbles the patient reads

`atende chat`, `atende eval run` and `atende replay` talk through it, so they exercise the
inbox, the turn and the outbox that the webhooks and the worker use.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from atende.agent.runtime import Atende
from atende.agent.state import AudioInput
from atende.agent.turn import TurnResult
from atende.memory.records import Conversation
from atende.phones import normalize_phone
from atende.server.channels.console.channel import ConsoleChannel, data_url
from atende.server.channels.console.sender import ConsoleSender
from atende.server.inbound import MediaRef
from atende.server.media import DownloadedMedia
from atende.server.metrics import Metrics
from atende.server.outbox import OutboxWorker
from atende.server.senders import Sender
from atende.server.turns import ConversationTurns
from atende.tenant import Tenant, TenantRegistry

CHANNEL = ConsoleChannel()


@dataclass
class Answer:
    """What one message got: the turn's result (None when nothing was stored) and the bubbles
    the console channel sent."""

    result: TurnResult | None
    bubbles: list[str] = field(default_factory=list)


async def _media(conversation: Conversation, ref: MediaRef) -> DownloadedMedia:
    return await CHANNEL.fetch_media(None, ref, None)


class ConsoleSession:
    """One clinic's patients at the console, answered by the turns and outbox the server runs."""

    def __init__(self, app: Atende, tenant: Tenant, *,
                 show: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.tenant = tenant
        self.sender = ConsoleSender(show)
        metrics = Metrics()
        self.turns = ConversationTurns(app, TenantRegistry([tenant]), media=_media,
                                       metrics=metrics, on_outbox=lambda: None)
        self.outbox = OutboxWorker(app.store, self._sender_for, clock=app.clock,
                                   metrics=metrics, max_attempts=1)

    def _sender_for(self, tenant_id: str, channel: str) -> Sender | None:
        return self.sender if (tenant_id, channel) == (self.tenant.id, CHANNEL.name) else None

    async def say(self, phone: str, text: str | None = None,
                  audio: Sequence[AudioInput] = ()) -> Answer:
        """Store the patient's message (text, voice notes) in the inbox, answer it and send
        the reply through the console channel."""
        store = self.app.store
        now = self.app.clock.now()
        phone = normalize_phone(phone)
        rows: list[tuple[str, str | None, dict[str, Any]]] = []
        if text and text.strip():
            rows.append(("text", text, {}))
        for note in audio:
            media = MediaRef(url=data_url(note.data, note.mime_type), mime_type=note.mime_type,
                             filename=note.filename, voice=True)
            meta: dict[str, Any] = {"media": media.model_dump(exclude_none=True)}
            if note.transcript is not None:
                meta["transcript"] = note.transcript
            rows.append(("audio", None, meta))
        conversation_id = None
        for kind, body, meta in rows:
            stored, _ = await store.inbox_add(
                self.tenant.id, phone, channel=CHANNEL.name,
                provider_message_id=f"console-{uuid.uuid4().hex}", provider_ts=now, kind=kind,
                text=body, meta=meta)
            conversation_id = stored.conversation_id
        conversation = await store.get_conversation(conversation_id) if conversation_id else None
        if conversation is None:
            return Answer(None)
        result = await self.turns.answer(conversation)
        await self.outbox.drain(conversation_id=conversation.id)
        return Answer(result, self.sender.take())
