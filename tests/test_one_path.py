"""The chat, the evals and replay take the path a WhatsApp message takes: the patient's message
is an inbox row, one turn answers it, the reply leaves through the outbox and a channel's sender
(the console's), so what they show is what the store says was sent."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from atende.evals import seed
from atende.evals.lint import load_suite
from atende.evals.runner import RunOptions, _play
from atende.evals.trajectory import Trajectory
from atende.memory import open_store
from atende.server.channels.console.session import ConsoleSession
from helpers import ANA, ROOT, atende_on, example_tenant, settings_for

NOW = "2026-03-10T08:00-03:00"


def _rows(db: Path) -> list[tuple[str, str, str, str | None]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT direction, channel, status, text FROM messages "
                            "ORDER BY created_at, rowid").fetchall()


async def test_a_console_message_is_an_inbox_row_and_its_reply_an_outbox_row_sent(tmp_path):
    async with atende_on(tmp_path) as app:
        session = ConsoleSession(app, example_tenant())
        answer = await session.say(ANA, "quero marcar uma limpeza amanhã de manhã")
        conversation = await app.store.find_conversation("clinica-exemplo", ANA)
        assert conversation is not None
        pending = await app.store.inbox_pending(conversation.id)
        messages = await app.store.list_messages(conversation.id)
    assert answer.result is not None and answer.result.choices
    # the sender showed the choices as numbered lines, like Z-API sends them
    assert answer.bubbles == [answer.result.as_text()]
    assert not pending  # answered in the same transaction that queued the reply
    inbound, reply = messages
    assert (inbound.direction, inbound.channel, inbound.turn_id) == (
        "in", "console", answer.result.turn_id)
    assert (reply.direction, reply.status, reply.text) == ("out", "sent", answer.result.reply)
    assert reply.meta["choices"] == [c.to_dict() for c in answer.result.choices]


async def test_a_conversation_a_person_took_over_gets_no_reply_at_the_console(tmp_path):
    async with atende_on(tmp_path) as app:
        session = ConsoleSession(app, example_tenant())
        await session.say(ANA, "oi")
        conversation = await app.store.find_conversation("clinica-exemplo", ANA)
        assert conversation is not None
        await app.store.pause_conversation(conversation.id, until=None, reason="recepção")
        answer = await session.say(ANA, "alô?")
        pending = await app.store.inbox_pending(conversation.id)
        messages = await app.store.list_messages(conversation.id)
    assert answer.result is not None and answer.result.skipped == "human"
    assert answer.bubbles == [] and not pending
    assert [m.direction for m in messages] == ["in", "out", "in"]  # nothing queued for "alô?"


def test_atende_chat_answers_through_the_inbox_and_outbox(tmp_path):
    db = tmp_path / "chat.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ATENDE_"))}
    env["ATENDE_DATABASE_URL"] = f"sqlite:///{db}"
    run = subprocess.run([sys.executable, "-m", "atende.cli", "chat", "--now", NOW, "--json"],
                         input="Quanto custa a limpeza?\n", text=True, capture_output=True,
                         cwd=ROOT, env=env, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    (shown,) = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    rows = _rows(db)
    assert [(d, c, s) for d, c, s, _ in rows] == [("in", "console", "received"),
                                                  ("out", "console", "sent")]
    assert rows[1][3] == shown["reply"] and "R$ 180,00" in shown["reply"]


async def test_an_eval_trial_leaves_answered_inbox_rows_and_sent_outbox_rows(tmp_path):
    suite = load_suite([ROOT / "evals" / "suites" / "smoke" / "book.yaml"], ROOT / "tenants")
    loaded = suite.scenarios[0]
    settings = settings_for(tmp_path)
    traj = Trajectory()
    await _play(loaded, RunOptions(settings=settings), settings, traj, [])
    store = open_store(settings.database_url)
    await store.setup()
    try:
        conversation = await store.find_conversation(loaded.tenant.id,
                                                     seed.phone_of("self", loaded))
        assert conversation is not None
        pending = await store.inbox_pending(conversation.id)
        messages = await store.list_messages(conversation.id)
    finally:
        await store.close()
    assert not pending
    inbound = [m for m in messages if m.direction == "in"]
    sent = [m for m in messages if m.direction == "out"]
    assert [m.text for m in inbound] == [t.user for t in traj.turns]
    assert len(sent) == len(traj.turns) and {m.status for m in sent} == {"sent"}
    # what the graders read is what went out: the reply text, choices as data on the bubble
    assert [m.text for m in sent] == [t.reply.split("\n\n1. ")[0] for t in traj.turns
                                      if t.reply is not None]
