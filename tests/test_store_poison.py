"""The `Store` contract for poison messages (messages the webhooks set aside), on every backend."""

from __future__ import annotations

from atende.memory.store import Store

TENANT = "clinica-exemplo"
OTHER = "clinica-outra"


async def test_poison_records_are_kept_per_tenant_newest_first(store: Store) -> None:
    first = await store.add_poison(TENANT, channel="meta", provider_message_id="wamid.A",
                                   reason="MetaMessage timestamp: value_error",
                                   excerpt='{"text": {"body": "<12 chars>"}}')
    second = await store.add_poison(TENANT, channel="zapi", reason="store refused: ValueError")
    await store.add_poison(OTHER, channel="meta", provider_message_id="wamid.B", reason="other")

    mine = await store.list_poison(TENANT)
    assert [p.id for p in mine] == [second.id, first.id]
    assert (mine[1].tenant_id, mine[1].channel, mine[1].provider_message_id) == (
        TENANT, "meta", "wamid.A")
    assert mine[1].reason == "MetaMessage timestamp: value_error"
    assert mine[1].excerpt == '{"text": {"body": "<12 chars>"}}'
    assert mine[1].received_at.utcoffset() is not None
    assert second.provider_message_id is None and second.excerpt == ""
    everyone = await store.list_poison()
    assert {p.tenant_id for p in everyone} == {TENANT, OTHER} and len(everyone) == 3
    assert [p.id for p in await store.list_poison(TENANT, limit=1)] == [second.id]


async def test_a_redelivered_poison_message_is_one_record(store: Store) -> None:
    first = await store.add_poison(TENANT, channel="meta", provider_message_id="wamid.A",
                                   reason="first")
    again = await store.add_poison(TENANT, channel="meta", provider_message_id="wamid.A",
                                   reason="second")
    elsewhere = await store.add_poison(TENANT, channel="zapi", provider_message_id="wamid.A",
                                       reason="same id, other channel")
    no_ids = [await store.add_poison(TENANT, channel="zapi", reason="no id") for _ in range(2)]
    assert again == first and again.reason == "first"
    assert elsewhere.id != first.id and no_ids[0].id != no_ids[1].id
    assert len(await store.list_poison(TENANT)) == 4


async def test_poison_records_leave_the_inbox_alone(store: Store) -> None:
    await store.add_poison(TENANT, channel="meta", provider_message_id="wamid.A", reason="r")
    assert await store.conversations_with_pending() == []
    assert await store.find_conversation(TENANT, "+5511990000001") is None
