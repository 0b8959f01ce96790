"""Postgres specifics: the database refuses double booking through the real tools, tenants are
kept apart by row-level security, migrations are safe to run from many places, and the
checkpointer carries a conversation across processes and stays small.

Each test gets a fresh database (see conftest); without ATENDE_TEST_POSTGRES_URL they skip.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import psycopg
import pytest
from conftest import with_database
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from postgres_children import migrate_at_once
from test_checkpoint import THREAD, Chat, DeltaChat, build, transcript

from atende.agent.context import ModelChain
from atende.agent.models.scripted import ScriptedChatModel, call
from atende.agent.runtime import open_atende
from atende.agent.turn import thread_id
from atende.clock import FrozenClock
from atende.errors import InfrastructureError, SlotUnavailable
from atende.memory import open_store
from atende.memory.checkpoint import discard_checkpoints_after, open_checkpointer, prune_checkpoints
from atende.memory.postgres import pg_conninfo
from atende.memory.postgres.admin import TENANT_TABLES, check, migrate
from atende.memory.postgres.migrations import migrations
from atende.memory.records import NewAppointment
from atende.settings import Settings
from atende.tenant import Tenant
from helpers import ROOT, TUESDAY_NOW, SwitchableModel, example_tenant, say

A, B = "clinica-a", "clinica-b"
ANA = "+5511990000001"
T0 = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)
VERSIONS = [m.version for m in migrations()]


def sql(url: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement.encode(), params or None)
        return cur.fetchall() if cur.description else []


# no double booking, through the real tools


def settings_on(url: str) -> Settings:
    return Settings(database_url=url, tenants_dir=ROOT / "tenants", _env_file=None)


def booking_model(slot_id: str) -> SwitchableModel:
    """Each turn gets its own script (turns run at once): book `slot_id`, then say something."""

    class PerTurn(SwitchableModel):
        def __call__(self, tenant: Tenant, now: datetime) -> ModelChain:
            return ModelChain("scripted", ScriptedChatModel([call("book_appointment", slot_id=slot_id),
                                                             "Pronto."]))

    return PerTurn()


async def test_fifty_patients_booking_one_slot_through_the_tools_one_wins(postgres_url: str) -> None:
    tenant = example_tenant()
    offer = SwitchableModel(ModelChain("scripted", ScriptedChatModel([
        call("check_availability", service="limpeza", when="amanhã de manhã"), "Horários:"])))
    async with open_atende(settings_on(postgres_url), model=offer, clock=FrozenClock(TUESDAY_NOW)) as app:
        offered = await say(app, "quero limpeza amanhã de manhã", phone="+5511980000000",
                            tenant=tenant)
        slot_id = offered.tool_calls[0].result["slots"][0]["slot_id"]  # type: ignore[index]
    phones = [f"+55119800{n:05d}" for n in range(1, 51)]
    async with open_atende(settings_on(postgres_url), model=booking_model(slot_id),
                           clock=FrozenClock(TUESDAY_NOW)) as app:
        results = await asyncio.gather(*(
            say(app, "pode marcar", phone=phone, tenant=tenant)
            for phone in phones
        ))
        booked = await app.store.list_appointments(tenant.id)
    calls = [result.tool_calls[0] for result in results]
    won = [c for c in calls if c.ok]
    lost = [c for c in calls if not c.ok]
    assert len(won) == 1 and len(lost) == 49
    assert {(c.result or {}).get("code") for c in lost} == {"slot_unavailable"}
    assert all((c.result or {}).get("message") for c in lost)  # a sentence the model re-plans on
    assert [(a.patient_phone, a.status) for a in booked] == [(phones[calls.index(won[0])], "booked")]
    assert all(result.error is None and result.reply for result in results)  # no turn crashed


async def test_postgres_refuses_an_overlap_from_any_writer(postgres_url: str) -> None:
    store = open_store(postgres_url)
    await store.setup()
    await store.book_appointment(NewAppointment(A, "dra-julia", "limpeza", ANA, T0,
                                                T0 + timedelta(minutes=30)))
    await store.close()
    with pytest.raises(psycopg.errors.ExclusionViolation):
        sql(postgres_url,
            "INSERT INTO appointments (tenant_id, professional_id, service_id, patient_phone,"
            " start_utc, end_utc, status) VALUES (%s, 'dra-julia', 'limpeza', %s, %s, %s, 'confirmed')",
            (A, "+5511990000002", T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)))


async def test_a_booking_caught_in_a_deadlock_is_run_again(postgres_url: str) -> None:
    store = open_store(postgres_url)
    await store.setup()
    mine = await store.book_appointment(NewAppointment(A, "p", "s", ANA, T0, T0 + timedelta(hours=1)))
    later = T0 + timedelta(hours=2)
    async with await psycopg.AsyncConnection.connect(postgres_url) as other:
        # another writer books 11:00 and has not committed yet
        await other.execute(
            "INSERT INTO appointments (tenant_id, professional_id, service_id, patient_phone,"
            " start_utc, end_utc) VALUES (%s, 'p', 's', '+5511990000002', %s, %s)",
            (A, later, later + timedelta(hours=1)))
        # moving mine onto 11:00 locks mine, then waits on the other's exclusion check ...
        moving = asyncio.create_task(store.reschedule_appointment(
            A, mine.id, patient_phone=ANA, professional_id="p", start=later,
            end=later + timedelta(hours=1)))
        await asyncio.sleep(0.5)
        # ... while the other waits for mine: a deadlock, and Postgres aborts the move
        await other.execute("SELECT 1 FROM appointments WHERE id = %s FOR UPDATE", (mine.id,))
        await other.commit()
    with pytest.raises(SlotUnavailable):  # run again, it finds 11:00 taken: not a database error
        await moving
    assert await store.get_appointment(A, mine.id) == mine
    await store.close()


# tenant isolation


async def seed_two_clinics(url: str) -> None:
    """A row of each tenant-owned table for clinics A and B, written by the owner."""
    store = open_store(url)
    await store.setup()
    for tenant in (A, B):
        message, _ = await store.inbox_add(tenant, ANA, channel="zapi", provider_message_id="wamid.1",
                                           provider_ts=T0, kind="text", text="oi")
        turn = await store.start_turn(message.conversation_id, tenant, model="offline", prompt_version="p")
        await store.finish_turn(turn.id, outcome="replied", reply="olá")
        await store.complete_turn(message.conversation_id, inbox_ids=[message.id], turn_id=turn.id,
                                  replies=["olá"])
        await store.book_appointment(NewAppointment(tenant, "dra-julia", "limpeza", ANA, T0,
                                                    T0 + timedelta(minutes=30)))
        await store.add_poison(tenant, channel="meta", provider_message_id="wamid.2", reason="r")
    await store.close()


INSERTS = {
    "patients": ("INSERT INTO patients (tenant_id, phone) VALUES (%s, '+5511990000009')", 1),
    "conversations": ("INSERT INTO conversations (tenant_id, phone, channel)"
                      " VALUES (%s, '+5511990000009', 'zapi')", 1),
    "messages": ("INSERT INTO messages (conversation_id, tenant_id, direction, author, status)"
                 " SELECT id, %s, 'out', 'bot', 'queued' FROM conversations LIMIT 1", 1),
    "appointments": ("INSERT INTO appointments (tenant_id, professional_id, service_id, patient_phone,"
                     " start_utc, end_utc) VALUES (%s, 'x', 'y', '+5511990000009',"
                     " '2031-01-01 10:00Z', '2031-01-01 11:00Z')", 1),
    "turns": ("INSERT INTO turns (conversation_id, tenant_id, started_at)"
              " SELECT id, %s, now() FROM conversations LIMIT 1", 1),
    "poison_messages": ("INSERT INTO poison_messages (tenant_id, channel, reason)"
                        " VALUES (%s, 'meta', 'r')", 1),
}


async def test_a_role_held_to_rls_sees_and_writes_only_its_tenant(postgres_url: str, app_role: str) -> None:
    await seed_two_clinics(postgres_url)
    sql(postgres_url, f'GRANT atende_app TO "{app_role}"')
    as_app = with_database(postgres_url, urlsplit(postgres_url).path.lstrip("/"), user=app_role)
    assert set(INSERTS) == set(TENANT_TABLES)
    with psycopg.connect(as_app, autocommit=True) as conn:  # each block its own transaction
        (bypass,) = conn.execute("SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user"
                                 ).fetchone() or (True,)
        assert not bypass
        for table in TENANT_TABLES:
            with conn.transaction():  # no tenant named: nothing at all
                assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
            with conn.transaction():
                conn.execute("SELECT set_config('app.tenant_id', %s, true)", (A,))
                tenants = conn.execute(f"SELECT DISTINCT tenant_id FROM {table}").fetchall()
                assert tenants == [(A,)], table  # A's rows, none of B's
                assert conn.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = %s", (B,)
                                    ).fetchone() == (0,)
                updated = conn.execute(f"UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = %s",
                                       (B,))
                assert updated.rowcount == 0, table
            statement, _ = INSERTS[table]
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"), \
                    conn.transaction():
                conn.execute("SELECT set_config('app.tenant_id', %s, true)", (A,))
                conn.execute(statement.encode(), (B,))
            with conn.transaction():  # the same insert for its own tenant is fine
                conn.execute("SELECT set_config('app.tenant_id', %s, true)", (A,))
                conn.execute(statement.encode(), (A,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute("SET LOCAL ROLE atende_worker")  # the all-tenant role is not the app's
    # the owner still sees both clinics, everywhere
    for table in TENANT_TABLES:
        assert sql(postgres_url, f"SELECT count(DISTINCT tenant_id) FROM {table}") == [(2,)]


async def test_only_the_app_role_may_call_the_cross_tenant_functions(postgres_url: str) -> None:
    await seed_two_clinics(postgres_url)
    stranger = f"atende_test_stranger_{secrets.token_hex(4)}"
    sql(postgres_url, f'CREATE ROLE "{stranger}" LOGIN')
    try:
        url = with_database(postgres_url, urlsplit(postgres_url).path.lstrip("/"), user=stranger)
        with psycopg.connect(url, autocommit=True) as conn:
            for call_ in ("atende_outbox_due(now(), 10)", "atende_pending_conversations()",
                          "atende_outbox_recover('x', NULL)", "atende_dead_letters(10)",
                          "atende_conversation_tenant(gen_random_uuid())"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                    conn.execute(f"SELECT * FROM public.{call_}".encode())
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute("SELECT * FROM messages")
    finally:
        sql(postgres_url, f'DROP ROLE "{stranger}"')


@pytest.fixture
def owner_without_bypass(postgres_server: str) -> Iterator[str]:
    """A database owned by a plain role (CREATEROLE, no superuser, no BYPASSRLS), as Supabase's
    `postgres` is a non-superuser: the URL to connect as that owner."""
    name = secrets.token_hex(4)
    role, database = f"atende_test_owner_{name}", f"atende_test_owned_{name}"
    sql(postgres_server, f'CREATE ROLE "{role}" LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS')
    sql(postgres_server, f'CREATE DATABASE "{database}" OWNER "{role}"')
    try:
        yield with_database(postgres_server, database, user=role)
    finally:
        sql(postgres_server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        sql(postgres_server, f'DROP ROLE IF EXISTS "{role}"')


async def test_an_owner_without_bypassrls_migrates_and_runs_under_the_policies(
    owner_without_bypass: str,
) -> None:
    url = owner_without_bypass
    assert await migrate(url) == VERSIONS
    store = open_store(url)
    try:
        first, _ = await store.inbox_add(A, ANA, channel="zapi", provider_message_id="w1",
                                         provider_ts=T0, kind="text", text="oi")
        await store.inbox_add(B, ANA, channel="zapi", provider_message_id="w1", provider_ts=T0,
                              kind="text", text="oi")
        assert {c.tenant_id for c in await store.conversations_with_pending()} == {A, B}
        [reply] = await store.complete_turn(first.conversation_id, inbox_ids=[first.id], turn_id=None,
                                            replies=["olá"])
        assert [m.id for m in await store.outbox_due(datetime.now(UTC))] == [reply.id]
        assert await store.outbox_claim(reply.id) is not None
        assert await store.outbox_recover() == 1
        assert [m.id for m in await store.dead_letters()] == [reply.id]
        await store.book_appointment(NewAppointment(A, "p", "s", ANA, T0, T0 + timedelta(hours=1)))
        with pytest.raises(SlotUnavailable):
            await store.book_appointment(NewAppointment(A, "p", "s", "+5511990000002", T0,
                                                        T0 + timedelta(minutes=30)))
    finally:
        await store.close()
    assert sql(url, "SELECT count(*) FROM messages") == [(0,)]  # FORCE: no tenant, no rows
    assert (await check(url))["ok"]


# migrations


@pytest.mark.slow
def test_setup_from_many_processes_at_once(postgres_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(6)
    children = [ctx.Process(target=migrate_at_once, args=(postgres_url, barrier)) for _ in range(6)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0] * 6
    assert sql(postgres_url, "SELECT version FROM atende_schema_migrations ORDER BY version") == [
        (v,) for v in VERSIONS]


async def test_migrate_then_check(postgres_url: str) -> None:
    before = await check(postgres_url)
    assert before["connected"] and not before["ok"]
    assert before["pending"] == VERSIONS and before["rls"] == dict.fromkeys(TENANT_TABLES)
    assert await migrate(postgres_url) == VERSIONS
    assert await migrate(postgres_url) == []
    after = await check(postgres_url)
    assert after["ok"], after["problems"]
    assert after["applied"] == VERSIONS and after["pending"] == after["modified"] == []
    assert all(rls == {"enabled": True, "forced": True, "policy": True} for rls in after["rls"].values())
    assert after["checkpointer"]["version"] == after["checkpointer"]["expected"]
    sql(postgres_url, "ALTER TABLE turns NO FORCE ROW LEVEL SECURITY")
    assert (await check(postgres_url))["problems"] == ["table turns: row-level security not forced"]


async def test_check_reports_an_unreachable_database() -> None:
    report = await check("postgresql://someone:s3cret@127.0.0.1:1/nowhere")
    assert (report["ok"], report["connected"]) == (False, False)
    assert "s3cret" not in str(report) and report["url"] == "postgresql://someone:***@127.0.0.1:1/nowhere"


async def test_files_pushed_by_supabase_count_as_applied_and_can_run_again(postgres_url: str) -> None:
    sql(postgres_url, "CREATE SCHEMA supabase_migrations;"
                      " CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY)")
    for migration in migrations():  # what `supabase db push` does: run each file, record it
        sql(postgres_url, migration.sql)
        sql(postgres_url, "INSERT INTO supabase_migrations.schema_migrations VALUES (%s)",
            (migration.version,))
    assert await migrate(postgres_url) == []
    for migration in migrations():  # and every file is idempotent
        sql(postgres_url, migration.sql)
    assert (await check(postgres_url))["ok"]


async def test_a_database_from_newer_code_is_refused(postgres_url: str) -> None:
    assert await migrate(postgres_url) == VERSIONS
    sql(postgres_url, "INSERT INTO atende_schema_migrations VALUES ('29991231000000', 'future', 'x')")
    with pytest.raises(InfrastructureError, match="newer than this code"):
        await open_store(postgres_url).setup()


def test_the_transaction_pooler_turns_prepared_statements_off() -> None:
    pooled = "postgresql://postgres.abc:pw@aws-0-sa-east-1.pooler.supabase.com:6543/postgres"
    assert pg_conninfo(pooled) == (pooled, True)
    session = "postgresql://postgres.abc:pw@aws-0-sa-east-1.pooler.supabase.com:5432/postgres"
    assert pg_conninfo(session) == (session, False)
    assert pg_conninfo("postgres://u@h/db?pgbouncer=true&sslmode=require") == (
        "postgresql://u@h/db?sslmode=require", True)


async def test_a_pooler_url_works_without_prepared_statements(postgres_url: str) -> None:
    counts = []
    for url in (postgres_url, f"{postgres_url}?pgbouncer=true"):
        store = open_store(url)
        await store.setup()
        for _ in range(8):  # psycopg prepares a statement from its 5th run
            await store.get_patient(A, ANA)
        async with store._tx() as conn:  # type: ignore[attr-defined]
            counts.append((await (await conn.execute("SELECT count(*) AS n FROM pg_prepared_statements")
                                  ).fetchone() or {}).get("n"))
        await store.close()
    assert counts[0] > 0 and counts[1] == 0


# the checkpointer


def rows(url: str, table: str, thread: str = THREAD) -> int:
    [(n,)] = sql(url, f"SELECT count(*) FROM {table} WHERE thread_id = %s", (thread,))
    assert isinstance(n, int)
    return n


@asynccontextmanager
async def graph_on(url: str, schema: type) -> AsyncIterator[tuple[object, AsyncPostgresSaver]]:
    async with open_checkpointer(url) as saver:
        assert isinstance(saver, AsyncPostgresSaver)
        yield build(schema).compile(checkpointer=saver), saver


async def chat(url: str, schema: type, say: list[str]) -> list[int]:
    """One turn per message, pruned after each; the checkpoint rows left each time."""
    config: RunnableConfig = {"configurable": {"thread_id": THREAD}}
    left = []
    async with graph_on(url, schema) as (graph, saver):
        for text in say:
            await graph.ainvoke({"messages": [HumanMessage(text)]}, config)  # type: ignore[attr-defined]
            await prune_checkpoints(saver, THREAD)
            left.append(rows(url, "checkpoints"))
    return left


async def history(url: str, schema: type, thread: str = THREAD) -> list[str]:
    async with graph_on(url, schema) as (graph, _):
        state = await graph.aget_state({"configurable": {"thread_id": thread}})  # type: ignore[attr-defined]
    return [str(message.content) for message in state.values.get("messages", [])]


@pytest.fixture
async def migrated(postgres_url: str) -> str:
    await open_store(postgres_url).setup()
    return postgres_url


async def test_checkpoint_tables_match_the_savers_own(postgres_server: str, migrated: str) -> None:
    upstream = with_database(postgres_server, f"atende_test_{secrets.token_hex(6)}")
    sql(postgres_server, f'CREATE DATABASE "{urlsplit(upstream).path[1:]}"')
    try:
        async with await psycopg.AsyncConnection.connect(upstream, autocommit=True) as conn:
            await AsyncPostgresSaver(conn).setup()  # type: ignore[arg-type]
        shape = (
            "SELECT table_name, column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name LIKE 'checkpoint%%' ORDER BY 1, 2"
        )
        indexes = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'checkpoint%%' ORDER BY 1"
        assert sql(migrated, shape) == sql(upstream, shape)
        assert sql(migrated, indexes) == sql(upstream, indexes)
        assert sql(migrated, "SELECT v FROM checkpoint_migrations ORDER BY v") == sql(
            upstream, "SELECT v FROM checkpoint_migrations ORDER BY v")
    finally:
        sql(postgres_server, f'DROP DATABASE IF EXISTS "{urlsplit(upstream).path[1:]}" WITH (FORCE)')


async def test_pruned_conversation_stays_small_and_continues_elsewhere(migrated: str) -> None:
    say = [f"mensagem {n}" for n in range(20)]
    assert await chat(migrated, Chat, say) == [1] * 20
    assert rows(migrated, "checkpoint_writes") == 0
    # one blob per stored channel of the one checkpoint left: the rest were only the old ones'
    [(referenced,)] = sql(migrated, "SELECT count(*) FROM checkpoints AS c, jsonb_object_keys("
                          "c.checkpoint -> 'channel_versions') AS k WHERE thread_id = %s", (THREAD,))
    assert 0 < rows(migrated, "checkpoint_blobs") <= referenced  # type: ignore[operator]
    assert await history(migrated, Chat) == transcript(say)
    await chat(migrated, Chat, ["e amanhã?"])  # another process picks the thread up
    assert await history(migrated, Chat) == transcript([*say, "e amanhã?"])


async def test_pruning_keeps_the_newest_checkpoints(migrated: str) -> None:
    say = [f"mensagem {n}" for n in range(5)]
    async with graph_on(migrated, Chat) as (graph, saver):
        for text in say:
            await graph.ainvoke({"messages": [HumanMessage(text)]},  # type: ignore[attr-defined]
                                {"configurable": {"thread_id": THREAD}})
        before = rows(migrated, "checkpoints")
        assert await prune_checkpoints(saver, THREAD, keep=3) == before - 3
        assert await prune_checkpoints(saver, "nobody") == 0
    assert rows(migrated, "checkpoints") == 3
    assert await history(migrated, Chat) == transcript(say)


async def test_pruning_a_delta_conversation_keeps_its_history(migrated: str) -> None:
    say = [f"mensagem {n}" for n in range(20)]
    left = await chat(migrated, DeltaChat, say)
    assert max(left) <= 8, left  # rebuilt from writes since the last snapshot
    assert await history(migrated, DeltaChat) == transcript(say)
    await chat(migrated, DeltaChat, ["e amanhã?"])
    assert await history(migrated, DeltaChat) == transcript([*say, "e amanhã?"])


async def test_discard_after_undoes_a_turn_and_its_blobs(migrated: str) -> None:
    config: RunnableConfig = {"configurable": {"thread_id": THREAD}}
    async with graph_on(migrated, Chat) as (graph, saver):
        await graph.ainvoke({"messages": [HumanMessage("oi")]}, config)  # type: ignore[attr-defined]
        await graph.ainvoke({"messages": [HumanMessage("tudo bem?")]}, config)  # type: ignore[attr-defined]
        await prune_checkpoints(saver, THREAD)
        base = (await graph.aget_state(config)).config["configurable"]["checkpoint_id"]  # type: ignore[attr-defined]
        blobs = rows(migrated, "checkpoint_blobs")
        await graph.ainvoke({"messages": [HumanMessage("superado")]}, config)  # type: ignore[attr-defined]
        assert await discard_checkpoints_after(saver, THREAD, base) > 0
        assert rows(migrated, "checkpoint_blobs") == blobs
        assert rows(migrated, "checkpoint_writes") == 0
    assert await history(migrated, Chat) == transcript(["oi", "tudo bem?"])
    async with graph_on(migrated, Chat) as (graph, saver):
        await graph.ainvoke({"messages": [HumanMessage("e amanhã?")]}, config)  # type: ignore[attr-defined]
        assert await discard_checkpoints_after(saver, "outra", None) == 0
    assert await history(migrated, Chat) == transcript(["oi", "tudo bem?", "e amanhã?"])
    async with graph_on(migrated, Chat) as (_, saver):
        assert await discard_checkpoints_after(saver, THREAD, None) > 0
    assert [rows(migrated, t) for t in ("checkpoints", "checkpoint_blobs", "checkpoint_writes")] == [0, 0, 0]


async def test_pruning_one_thread_leaves_the_others(migrated: str) -> None:
    async with graph_on(migrated, Chat) as (graph, saver):
        for thread in (THREAD, "outra"):
            for text in ("oi", "tudo bem?"):
                await graph.ainvoke({"messages": [HumanMessage(text)]},  # type: ignore[attr-defined]
                                    {"configurable": {"thread_id": thread}})
        before = rows(migrated, "checkpoints")
        await prune_checkpoints(saver, "outra")
        assert rows(migrated, "checkpoints") == before
        assert rows(migrated, "checkpoints", "outra") == 1
    assert len(await history(migrated, Chat, "outra")) == 4


CHILD_TURN = textwrap.dedent("""
    import asyncio, sys
    from datetime import datetime
    from atende.agent.runtime import open_atende
    from atende.clock import FrozenClock
    from atende.logs import configure_logging
    from atende.server.channels.console.session import ConsoleSession
    from atende.settings import Settings
    from atende.tenant import load_tenant_file

    async def main(url, tenants):
        configure_logging("ERROR")  # stdout carries the reply alone
        settings = Settings(database_url=url, tenants_dir=tenants, _env_file=None)
        tenant = load_tenant_file(f"{tenants}/clinica-exemplo.yaml")
        now = datetime.fromisoformat("2026-03-10T08:00-03:00")
        async with open_atende(settings, model="offline", clock=FrozenClock(now)) as app:
            answer = await ConsoleSession(app, tenant).say("+5511987650001",
                                                           "Oi! Quanto custa a limpeza?")
        print(answer.result.reply)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
""")


@pytest.mark.slow
async def test_a_conversation_started_in_another_process_continues_here(postgres_url: str) -> None:
    child = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", CHILD_TURN, postgres_url, str(ROOT / "tenants")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert child.returncode == 0, child.stderr
    first_reply = child.stdout.strip()
    assert first_reply
    tenant, phone = example_tenant(), "+5511987650001"
    config: RunnableConfig = {"configurable": {"thread_id": thread_id(tenant.id, phone)}}
    async with open_atende(settings_on(postgres_url), model=SwitchableModel(),
                           clock=FrozenClock(TUESDAY_NOW)) as app:
        carried = [str(m.content) for m in (await app.graph.aget_state(config)).values["messages"]]
        second = await say(app, "E a avaliação?", phone=phone, tenant=tenant)
        after = [str(m.content) for m in (await app.graph.aget_state(config)).values["messages"]]
        conversation = await app.store.find_conversation(tenant.id, phone)
        assert conversation is not None
        messages = await app.store.list_messages(conversation.id)
        turns = await app.store.list_turns(conversation.id)
    assert carried[0] == "Oi! Quanto custa a limpeza?"  # the other process's turn, loaded here
    assert after[: len(carried)] == carried and "E a avaliação?" in after[len(carried):]
    # the console channel stores what WhatsApp's does: inbox rows answered, the reply sent from
    # the outbox with the options it offers as data on its bubble
    stored = [(m.direction, m.text, m.status) for m in messages]
    assert stored == [("in", "Oi! Quanto custa a limpeza?", "received"), ("out", first_reply, "sent"),
                      ("in", "E a avaliação?", "received"), ("out", second.reply, "sent")]
    assert second.choices and messages[-1].meta["choices"] == [c.to_dict() for c in second.choices]
    assert len(turns) == 2 and second.reply
