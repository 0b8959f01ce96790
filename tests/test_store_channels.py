"""The `Store` contract for channels: inbox, outbox, delivery status and human takeover.

Runs on every backend in the `store` fixture. What a patient would notice: a webhook delivered
three times is answered once, a burst is read in the order it was typed, two turns racing on
the same messages produce one reply, a reply is sent once, and the bot keeps quiet while a
person at the clinic has the chat.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from atende.errors import NotFound
from atende.memory.records import INTERRUPTED, Message, ProviderStatus
from atende.memory.store import Store

TENANT = "clinica-exemplo"
ANA = "+5511990000001"
BIA = "+5511990000002"
T0 = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # provider timestamps: in the past, like real ones
_ids = itertools.count()


async def receive(
    store: Store,
    text: str = "oi",
    *,
    at: datetime = T0,
    pid: str | None = None,
    phone: str = ANA,
    tenant: str = TENANT,
) -> Message:
    message, _ = await store.inbox_add(
        tenant,
        phone,
        channel="zapi",
        provider_message_id=pid or f"wamid.in{next(_ids)}",
        provider_ts=at,
        kind="text",
        text=text,
    )
    return message


async def queued_reply(store: Store, text: str = "Olá!", *, tenant: str = TENANT) -> Message:
    received = await receive(store, tenant=tenant)
    [reply] = await store.complete_turn(
        received.conversation_id, inbox_ids=[received.id], turn_id=None, replies=[text]
    )
    return reply


async def sent_reply(store: Store, provider_message_id: str) -> Message:
    reply = await queued_reply(store)
    assert await store.outbox_claim(reply.id) is not None
    return await store.outbox_result(reply.id, status="sent", provider_message_id=provider_message_id)


# inbox


async def test_a_webhook_delivered_three_times_is_stored_once(store: Store) -> None:
    results = [
        await store.inbox_add(
            TENANT,
            ANA,
            channel="zapi",
            provider_message_id="wamid.1",
            provider_ts=T0,
            kind="text",
            text="oi",
            meta={"raw_type": "text"},
        )
        for _ in range(3)
    ]
    assert [created for _, created in results] == [True, False, False]
    assert results[1][0] == results[2][0] == results[0][0]
    first = results[0][0]
    assert (first.author, first.direction, first.state) == ("patient", "in", "pending")
    assert first.status == "received"
    assert (first.channel, first.provider_ts, first.meta) == ("zapi", T0, {"raw_type": "text"})
    assert await store.inbox_pending(first.conversation_id) == [first]
    patient = await store.get_patient(TENANT, ANA)  # first contact made the lead
    assert patient is not None and (patient.stage, patient.source) == ("new", "zapi")
    conversation = await store.find_conversation(TENANT, ANA)
    assert conversation is not None and conversation.id == first.conversation_id
    assert conversation.last_inbound_at == T0
    other, created = await store.inbox_add(
        "outra-clinica",
        ANA,
        channel="zapi",
        provider_message_id="wamid.1",
        provider_ts=T0,
        kind="text",
        text="oi",
    )
    assert created and other.conversation_id != first.conversation_id


async def test_concurrent_redeliveries_and_first_messages_race_safely(store: Store) -> None:
    same = await asyncio.gather(
        *(
            store.inbox_add(
                TENANT,
                ANA,
                channel="zapi",
                provider_message_id="wamid.race",
                provider_ts=T0,
                kind="text",
                text="oi",
            )
            for _ in range(10)
        )
    )
    assert sorted(created for _, created in same) == [False] * 9 + [True]
    assert len({message.id for message, _ in same}) == 1
    burst = await asyncio.gather(*(receive(store, f"m{n}", phone=BIA) for n in range(10)))
    assert len({message.conversation_id for message in burst}) == 1
    assert len(await store.inbox_pending(burst[0].conversation_id)) == 10


async def test_pending_messages_come_in_the_order_they_were_typed(store: Store) -> None:
    for text, seconds in [("três", 20), ("um", 0), ("dois", 10), ("quatro", 30), ("cinco", 30)]:
        await receive(store, text, at=T0 + timedelta(seconds=seconds))
    conversation = await store.find_conversation(TENANT, ANA)
    assert conversation is not None
    pending = await store.inbox_pending(conversation.id)
    # by provider time; within one second, by arrival
    assert [m.text for m in pending] == ["um", "dois", "três", "quatro", "cinco"]


async def test_last_inbound_only_moves_forward_and_never_past_now(store: Store) -> None:
    later = await receive(store, at=T0 + timedelta(hours=1))
    await receive(store, at=T0)  # a late webhook for an older message
    conversation = await store.get_conversation(later.conversation_id)
    assert conversation is not None and conversation.last_inbound_at == T0 + timedelta(hours=1)
    await receive(store, at=datetime.now(UTC) + timedelta(days=1))  # a provider clock running fast
    conversation = await store.get_conversation(later.conversation_id)
    assert conversation is not None and conversation.last_inbound_at is not None
    assert conversation.last_inbound_at <= datetime.now(UTC)


async def test_ignored_messages_leave_the_inbox_with_their_reason(store: Store) -> None:
    first, second = await receive(store, "a"), await receive(store, "b")
    await store.complete_turn(first.conversation_id, inbox_ids=[first.id], turn_id=None, replies=[])
    await store.inbox_ignore([first.id, second.id, "no-such-id"], reason="human_takeover")
    [done, ignored] = await store.list_messages(first.conversation_id)
    assert (done.state, ignored.state) == ("done", "ignored")
    assert ignored.meta.get("ignored_reason") == "human_takeover" and "ignored_reason" not in done.meta
    assert await store.inbox_pending(first.conversation_id) == []
    assert await store.conversations_with_pending() == []


async def test_conversations_with_pending_after_a_restart(store: Store) -> None:
    await receive(store, phone=BIA, at=T0 + timedelta(minutes=5))
    await receive(store, phone=ANA, at=T0)
    answered = await receive(store, phone="+5511990000003")
    await store.complete_turn(answered.conversation_id, inbox_ids=[answered.id], turn_id=None, replies=["ok"])
    waiting = await store.conversations_with_pending()
    assert [c.phone for c in waiting] == [ANA, BIA]  # longest waiting first


async def test_console_messages_are_not_inbox_rows(store: Store) -> None:
    conversation = await store.get_or_create_conversation(TENANT, ANA, "console")
    said = await store.add_message(conversation.id, direction="in", text="oi")
    replied = await store.add_message(conversation.id, direction="out", text="olá", status="sent")
    assert (said.author, said.state, said.channel) == ("patient", None, "console")
    assert (replied.author, replied.state) == ("bot", None)
    assert await store.inbox_pending(conversation.id) == []
    assert await store.conversations_with_pending() == []


# turns answer the inbox once


async def test_complete_turn_marks_done_and_queues_the_replies_in_order(store: Store) -> None:
    first, second = await receive(store, "oi"), await receive(store, "quero marcar")
    replies = await store.complete_turn(
        first.conversation_id,
        inbox_ids=[first.id, second.id],
        turn_id="turn-1",
        replies=["Olá!", "Qual dia?"],
        meta={"model": "offline"},
    )
    assert [r.text for r in replies] == ["Olá!", "Qual dia?"]
    assert {(r.author, r.direction, r.status, r.turn_id, r.channel, r.attempts) for r in replies} == {
        ("bot", "out", "queued", "turn-1", "zapi", 0)
    }
    assert all(r.meta == {"model": "offline"} and r.state is None for r in replies)
    stored = await store.list_messages(first.conversation_id)
    assert [(m.text, m.state, m.turn_id) for m in stored[:2]] == [
        ("oi", "done", "turn-1"),
        ("quero marcar", "done", "turn-1"),
    ]
    assert await store.inbox_pending(first.conversation_id) == []
    assert await store.outbox_due(datetime.now(UTC)) == replies


async def test_the_options_a_reply_offers_wait_on_its_last_bubble(store: Store) -> None:
    asked = await receive(store, "quero marcar")
    offer = {"choices": [{"id": "ana-souza|limpeza|2026-03-11T08:00", "label": "qua 11/03 às 08:00",
                          "title": "qua 11/03 às 08:00", "detail": "Dra. Ana Souza"}]}
    await store.complete_turn(asked.conversation_id, inbox_ids=[asked.id], turn_id="turn-1",
                              replies=["Nosso endereço: Rua A, 1", "Qual prefere?"],
                              meta={"model": "offline"}, last_meta=offer)
    queued = await store.outbox_due(datetime.now(UTC))  # read back as the sender will
    assert [(m.text, m.meta) for m in queued] == [
        ("Nosso endereço: Rua A, 1", {"model": "offline"}),
        ("Qual prefere?", {"model": "offline", **offer}),
    ]


async def test_complete_turn_writes_nothing_when_a_message_was_already_handled(store: Store) -> None:
    first, second = await receive(store, "a"), await receive(store, "b")
    elsewhere = await receive(store, "c", phone=BIA)
    await store.inbox_ignore([second.id], reason="human_takeover")
    assert (
        await store.complete_turn(
            first.conversation_id, inbox_ids=[first.id, second.id], turn_id="t", replies=["resposta"]
        )
        == []
    )
    assert (
        await store.complete_turn(
            first.conversation_id, inbox_ids=[first.id, elsewhere.id], turn_id="t", replies=["resposta"]
        )
        == []
    )
    assert await store.inbox_pending(first.conversation_id) == [first]
    assert await store.inbox_pending(elsewhere.conversation_id) == [elsewhere]
    assert await store.outbox_due(datetime.now(UTC)) == []
    with pytest.raises(NotFound):
        await store.complete_turn("no-such-conversation", inbox_ids=[], turn_id=None, replies=["x"])


async def test_racing_turns_on_the_same_messages_answer_once(store: Store) -> None:
    burst = [await receive(store, f"m{n}") for n in range(3)]
    ids = [m.id for m in burst]
    results = await asyncio.gather(
        *(
            store.complete_turn(
                burst[0].conversation_id,
                inbox_ids=ids,
                turn_id=f"turn-{n}",
                replies=[f"resposta {n}", "e mais"],
            )
            for n in range(10)
        )
    )
    winners = [written for written in results if written]
    assert len(winners) == 1 and len(winners[0]) == 2
    outbound = [m for m in await store.list_messages(burst[0].conversation_id) if m.direction == "out"]
    assert outbound == winners[0]
    assert {m.turn_id for m in await store.list_messages(burst[0].conversation_id)} == {winners[0][0].turn_id}


# outbox


async def test_twenty_senders_claim_one_reply_one_wins(store: Store) -> None:
    reply = await queued_reply(store)
    claims = await asyncio.gather(*(store.outbox_claim(reply.id) for _ in range(20)))
    won = [claim for claim in claims if claim is not None]
    assert len(won) == 1
    assert (won[0].status, won[0].attempts) == ("sending", 1)
    assert await store.outbox_claim(reply.id) is None
    assert await store.outbox_due(datetime.now(UTC)) == []  # in flight, not due again


async def test_retries_wait_their_turn_then_dead_letter(store: Store) -> None:
    reply = await queued_reply(store)
    now = datetime.now(UTC)
    assert await store.outbox_claim(reply.id) is not None
    retry = await store.outbox_result(
        reply.id, status="queued", error="503: try later", next_attempt_at=now + timedelta(minutes=1)
    )
    assert (retry.status, retry.attempts, retry.error) == ("queued", 1, "503: try later")
    assert await store.outbox_due(now) == []
    assert [m.id for m in await store.outbox_due(now + timedelta(minutes=1))] == [reply.id]
    second = await store.outbox_claim(reply.id)
    assert second is not None and second.attempts == 2
    dead = await store.outbox_result(reply.id, status="dead", error="503: gave up")
    assert (dead.status, dead.error, dead.next_attempt_at) == ("dead", "503: gave up", None)
    assert await store.outbox_due(now + timedelta(days=1)) == []

    refused = await queued_reply(store, "Oi de novo")
    assert await store.outbox_claim(refused.id) is not None
    await store.outbox_result(refused.id, status="failed", error="131047: Re-engagement message")
    elsewhere = await queued_reply(store, tenant="outra-clinica")
    assert await store.outbox_claim(elsewhere.id) is not None
    await store.outbox_result(elsewhere.id, status="failed", error="400")
    assert [m.id for m in await store.dead_letters(TENANT)] == [refused.id, reply.id]  # newest first
    assert len(await store.dead_letters()) == 3
    assert len(await store.dead_letters(limit=1)) == 1


async def test_a_sent_reply_is_found_by_its_provider_id(store: Store) -> None:
    sent = await sent_reply(store, "wamid.out1")
    assert (sent.status, sent.provider_message_id, sent.next_attempt_at) == ("sent", "wamid.out1", None)
    assert await store.find_outbound(TENANT, "wamid.out1") == sent
    assert await store.find_outbound("outra-clinica", "wamid.out1") is None
    received = await receive(store, pid="wamid.in-x")
    assert await store.find_outbound(TENANT, received.provider_message_id or "") is None
    assert await store.outbox_due(datetime.now(UTC) + timedelta(days=1)) == []
    with pytest.raises(NotFound):
        await store.outbox_result("no-such-message", status="sent")


async def test_recover_fails_interrupted_sends_instead_of_resending(store: Store) -> None:
    interrupted, finished = await queued_reply(store, "a"), await queued_reply(store, "b")
    assert await store.outbox_claim(interrupted.id) is not None
    await sent_reply(store, "wamid.done")
    assert await store.outbox_recover() == 1
    assert await store.outbox_recover() == 0
    [failed] = await store.dead_letters()
    assert (failed.id, failed.status) == (interrupted.id, "failed")
    assert failed.error == "interrupted while sending; not resent to avoid a duplicate"
    assert await store.outbox_claim(interrupted.id) is None
    assert [m.id for m in await store.outbox_due(datetime.now(UTC))] == [finished.id]
    # the sender that was thought dead reports back: a retry must not resend, a success is kept
    late_retry = await store.outbox_result(interrupted.id, status="queued", error="timeout")
    assert late_retry.status == "failed"
    late_sent = await store.outbox_result(interrupted.id, status="sent", provider_message_id="wamid.late")
    assert (late_sent.status, late_sent.provider_message_id) == ("sent", "wamid.late")


async def test_a_send_in_flight_elsewhere_is_not_taken_for_interrupted(store: Store) -> None:
    in_flight = await queued_reply(store, "a")
    assert await store.outbox_claim(in_flight.id) is not None
    # another sender process starts or sweeps: the claim is a moment old, well within its lease
    assert await store.outbox_recover(lease=timedelta(minutes=2)) == 0
    assert await store.outbox_result(in_flight.id, status="queued", error="429") is not None
    assert (await store.outbox_claim(in_flight.id)) is not None  # its own retry still works
    # once the claim is older than the lease, its sender is taken for dead
    assert await store.outbox_recover(lease=timedelta(0)) == 1
    [failed] = await store.dead_letters()
    assert (failed.id, failed.error) == (in_flight.id, INTERRUPTED)


# delivery status


@pytest.mark.parametrize(
    ("callbacks", "final"),
    [
        ([("delivered", True), ("read", True)], "read"),
        ([("read", True), ("delivered", False)], "read"),
        ([("delivered", True), ("failed", False)], "delivered"),
        ([("read", True), ("played", True), ("read", False)], "played"),
        ([("played", True), ("delivered", False)], "played"),
        ([("sent", False)], "sent"),
        ([("failed", True), ("failed", False)], "failed"),
        ([("failed", True), ("delivered", True)], "delivered"),
    ],
    ids=[
        "forward",
        "late-delivered",
        "failed-after-delivered",
        "played-beats-read",
        "late-after-played",
        "repeat",
        "failed-twice",
        "delivered-after-failed",
    ],
)
async def test_delivery_status_only_moves_forward(
    store: Store, callbacks: list[tuple[ProviderStatus, bool]], final: str
) -> None:
    await sent_reply(store, "wamid.out1")
    changed = [
        await store.apply_status(TENANT, "wamid.out1", status, error="131026: undeliverable")
        for status, _ in callbacks
    ]
    assert changed == [expected for _, expected in callbacks]
    message = await store.find_outbound(TENANT, "wamid.out1")
    assert message is not None and message.status == final
    assert (message.error is not None) == any(s == "failed" and ok for s, ok in callbacks)


async def test_status_for_an_unknown_or_inbound_message_changes_nothing(store: Store) -> None:
    await sent_reply(store, "wamid.out1")
    received = await receive(store, pid="wamid.in1")
    assert not await store.apply_status(TENANT, "wamid.nobody", "read")
    assert not await store.apply_status("outra-clinica", "wamid.out1", "read")
    assert not await store.apply_status(TENANT, "wamid.in1", "read")
    assert await store.inbox_pending(received.conversation_id) == [received]


# human takeover


async def test_messages_typed_by_the_clinic_are_kept_once(store: Store) -> None:
    received = await receive(store)
    conversation_id = received.conversation_id
    await store.complete_turn(conversation_id, inbox_ids=[received.id], turn_id=None, replies=["bot"])
    typed = [
        await store.record_human_message(
            conversation_id, text="Oi Ana, aqui é a Carla", provider_message_id="wamid.h1", provider_ts=T0
        )
        for _ in range(2)
    ]
    assert [created for _, created in typed] == [True, False] and typed[0][0] == typed[1][0]
    human = typed[0][0]
    assert (human.author, human.direction, human.status, human.provider_ts) == ("human", "out", "sent", T0)
    assert await store.find_outbound(TENANT, "wamid.h1") == human  # its echo is not typed twice
    assert await store.apply_status(TENANT, "wamid.h1", "read")
    with pytest.raises(NotFound):
        await store.record_human_message(
            "no-such-conversation", text="x", provider_message_id=None, provider_ts=None
        )


async def test_human_messages_since(store: Store) -> None:
    received = await receive(store)
    conversation_id = received.conversation_id
    now = datetime.now(UTC)
    await store.record_human_message(
        conversation_id, text="depois", provider_message_id="wamid.h2", provider_ts=now + timedelta(hours=2)
    )
    await store.record_human_message(
        conversation_id, text="antes", provider_message_id="wamid.h1", provider_ts=now - timedelta(hours=2)
    )
    await store.record_human_message(
        conversation_id, text=None, kind="image", provider_message_id=None, provider_ts=None
    )
    everything = await store.human_messages_since(conversation_id, None)
    assert [m.text for m in everything] == ["antes", None, "depois"]  # as typed, not as stored
    # stored after `since` counts even if typed before it (a late webhook the bot never saw)
    assert [m.text for m in await store.human_messages_since(conversation_id, now - timedelta(hours=1))] == [
        "antes",
        None,
        "depois",
    ]
    # nothing stored after `since`: only what was typed after it
    assert [m.text for m in await store.human_messages_since(conversation_id, now + timedelta(hours=1))] == [
        "depois"
    ]
    assert await store.human_messages_since(conversation_id, now + timedelta(hours=3)) == []


async def test_pause_keeps_the_bot_quiet_until_it_expires_or_is_resumed(store: Store) -> None:
    received = await receive(store)
    conversation_id = received.conversation_id
    paused = await store.pause_conversation(
        conversation_id, until=T0 + timedelta(hours=1), reason="mensagem enviada pela equipe"
    )
    assert (paused.status, paused.handoff_reason) == ("human", "mensagem enviada pela equipe")
    assert paused.paused_until == T0 + timedelta(hours=1) and paused.handoff_at is not None
    assert paused.bot_paused(T0 + timedelta(minutes=59))
    assert not paused.bot_paused(T0 + timedelta(hours=1))
    extended = await store.pause_conversation(conversation_id, until=None, reason="reclamação")
    assert (extended.paused_until, extended.handoff_reason) == (None, "reclamação")
    assert extended.bot_paused(T0 + timedelta(days=365))
    resumed = await store.resume_conversation(conversation_id)
    assert (resumed.status, resumed.handoff_reason, resumed.handoff_at, resumed.paused_until) == (
        "active",
        None,
        None,
        None,
    )
    assert not resumed.bot_paused(T0)
    assert await store.get_conversation(conversation_id) == resumed
    with pytest.raises(NotFound):
        await store.pause_conversation("no-such-conversation", until=None, reason="x")
    with pytest.raises(NotFound):
        await store.resume_conversation("no-such-conversation")


async def test_handoff_status_is_a_pause_until_resumed(store: Store) -> None:
    received = await receive(store)
    await store.pause_conversation(received.conversation_id, until=T0, reason="antiga")
    human = await store.set_conversation_status(received.conversation_id, "human", reason="pedido")
    assert (human.paused_until, human.handoff_reason) == (None, "pedido")
    assert human.bot_paused(T0 + timedelta(days=30))
    back = await store.set_conversation_status(received.conversation_id, "active")
    assert (back.status, back.paused_until) == ("active", None) and not back.bot_paused(T0)


async def test_find_conversation(store: Store) -> None:
    assert await store.find_conversation(TENANT, ANA) is None
    received = await receive(store)
    found = await store.find_conversation(TENANT, ANA)
    assert found is not None and found.id == received.conversation_id
    assert found == await store.get_conversation(received.conversation_id)
    assert await store.find_conversation("outra-clinica", ANA) is None
