"""Turns on procrastinate, the job queue in the same Postgres: a job per conversation burst.

    webhook ─► inbox_add ─► defer answer_conversation(conversation_id)
                              lock=conversation_id           one turn at a time per conversation,
                                                             across every worker process
                              queueing_lock=conversation_id  a burst is one queued job: a message
                                                             that finds one waiting adds nothing
                                                             (AlreadyEnqueued), the job reads the
                                                             whole inbox when it runs
                              schedule_in=debounce window    the debounce is the scheduled time

A job runs `ConversationTurns.answer_pending`: if the newest pending message is younger than
the window it waits the remainder (capped at `max_seconds` after the first), answers, and
re-runs a superseded turn. While a job runs its queueing lock is free, so a message arriving
then queues the next job, which waits for the lock.

Nothing is lost, nothing is answered twice. The inbox stays the source of truth and
`complete_turn` refuses to answer a message twice, so a job can always be run again: each
worker, at start, queues every conversation with pending messages; a periodic job does the same
every minute (a job that failed, or a webhook whose defer failed after its message was stored);
and each worker retries the jobs of workers that stopped sending heartbeats (a SIGKILL leaves
its job `doing`, holding its conversation's lock).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import psycopg
import structlog
from procrastinate import App, JobContext, PsycopgConnector
from procrastinate import exceptions as pq
from procrastinate.jobs import Status
from procrastinate.schema import SchemaManager

from atende.errors import InfrastructureError
from atende.memory.postgres import pg_conninfo
from atende.memory.postgres.base import masked
from atende.memory.store import Store
from atende.server.turns import ConversationTurns
from atende.tenant import TenantRegistry

log = structlog.get_logger(__name__)

ANSWER_TASK = "atende.answer_conversation"
REQUEUE_TASK = "atende.requeue_pending"
REMINDERS_TASK = "atende.reminders_tick"
TURNS_QUEUE = "turns"
POLL_SECONDS = 0.25  # how late a job may start after its scheduled time (the debounce's end)
# pg_advisory_xact_lock key: one process applies procrastinate's schema, the others wait
SCHEMA_LOCK = int.from_bytes(b"atende:q", "big")


def queue_app(database_url: str, *, pool_size: int = 4) -> App:
    """A procrastinate `App` on the store's database, with atende's tasks; `open_async()` it.

    A fresh app per call, the tasks registered on it (no blueprint shared between apps).
    Behind a transaction pooler there are no prepared statements and no LISTEN/NOTIFY (workers
    poll instead)."""
    conninfo, pooler = pg_conninfo(database_url)
    connector = PsycopgConnector(
        conninfo=conninfo, kwargs={"prepare_threshold": None} if pooler else {},
        min_size=1, max_size=pool_size, name="atende-queue")
    app = App(connector=connector, worker_defaults={
        "queues": [TURNS_QUEUE],
        "listen_notify": not pooler,
        # a job deferred with schedule_in gets no notification when it comes due: the debounce
        # window's end is only noticed by polling
        "fetch_job_polling_interval": POLL_SECONDS,
        "delete_jobs": "successful",  # finished turns live in `turns`; failed jobs stay to read
    })
    app.task(name=ANSWER_TASK, queue=TURNS_QUEUE, pass_context=True)(answer_conversation)
    requeue = app.task(name=REQUEUE_TASK, queue=TURNS_QUEUE, pass_context=True,
                       queueing_lock=REQUEUE_TASK)(requeue_pending)
    app.periodic(cron="* * * * *", periodic_id="every-minute")(requeue)
    # the reminder tick: procrastinate defers one job per minute whatever the number of workers,
    # and each reminder is handed to the outbox in the transaction that marks it (exactly once)
    reminders = app.task(name=REMINDERS_TASK, queue=TURNS_QUEUE, pass_context=True,
                         queueing_lock=REMINDERS_TASK)(reminders_tick)
    app.periodic(cron="* * * * *", periodic_id="reminders-every-minute")(reminders)
    return app


async def ensure_schema(database_url: str) -> bool:
    """Apply procrastinate's schema (its `SchemaManager`) if the database lacks it; True when
    applied. The store's migrations normally bring it (supabase/migrations); this covers a
    database set up otherwise. Safe when many processes start at once (an advisory lock)."""
    conninfo, pooler = pg_conninfo(database_url)
    kwargs: dict[str, Any] = {"autocommit": True}
    if pooler:
        kwargs["prepare_threshold"] = None
    try:
        conn = await psycopg.AsyncConnection.connect(conninfo, **kwargs)
    except psycopg.Error as exc:
        raise InfrastructureError(f"cannot connect to {masked(database_url)}: {exc}") from exc
    async with conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        found = await (await conn.execute("SELECT to_regclass('procrastinate_jobs')")).fetchone()
        if found is not None and found[0] is not None:
            return False
        await conn.execute(SchemaManager.get_schema().encode())  # one script, no parameters
    log.info("queue_schema_applied")
    return True


async def enqueue(app: App, conversation_id: str, *, delay: float = 0.0) -> bool:
    """Queue a job answering the conversation in `delay` seconds; False when one is already
    waiting (it reads the whole inbox when it runs, so nothing is left out)."""
    deferrer = app.configure_task(ANSWER_TASK, lock=conversation_id, queueing_lock=conversation_id,
                                  schedule_in={"seconds": max(delay, 0.0)})
    try:
        await deferrer.defer_async(conversation_id=conversation_id)
    except pq.AlreadyEnqueued:
        return False
    return True


async def requeue_conversations(app: App, store: Store) -> int:
    """Queue every conversation with pending messages that has no job waiting; returns how
    many were queued."""
    queued = 0
    for conversation in await store.conversations_with_pending():
        queued += await enqueue(app, conversation.id)
    return queued


async def answer_conversation(context: JobContext, conversation_id: str) -> int:
    """The job: answer the conversation's pending messages (debounce included); it runs under
    the lock named after the conversation. Returns how many bursts it answered."""
    turns: ConversationTurns = context.additional_context["turns"]
    structlog.contextvars.clear_contextvars()  # a job runs in its own task: only ours
    structlog.contextvars.bind_contextvars(conversation_id=conversation_id, job_id=context.job.id)
    try:
        return await turns.answer_pending(conversation_id)
    except asyncio.CancelledError:
        # the worker is stopping mid-burst: hand the conversation to the next job
        with contextlib.suppress(Exception):
            await asyncio.shield(enqueue(context.app, conversation_id))
        raise


async def reminders_tick(context: JobContext, timestamp: int) -> int:
    """Every minute: hand the reminders due now to the outbox (`reminders/runner.py`)."""
    runner = context.additional_context.get("reminders")
    if runner is None:  # a process that runs turns but no reminders
        return 0
    report = await runner.tick()
    return int(report.queued)


async def requeue_pending(context: JobContext, timestamp: int) -> int:
    """Every minute: a job for each conversation left with pending messages and none queued."""
    turns: ConversationTurns = context.additional_context["turns"]
    queued = await requeue_conversations(context.app, turns.app.store)
    if queued:  # mostly conversations mid-turn (their next job queues behind the lock)
        log.info("queue_requeued_pending", conversations=queued)
    return queued


async def retry_stalled(app: App, *, stalled_after: float) -> int:
    """Put back in the queue the jobs of workers silent for `stalled_after` seconds (killed
    mid-job); returns how many. A conversation that meanwhile got a waiting job needs no
    second one: the stalled job is ended as failed instead, which frees its lock."""
    manager = app.job_manager
    retried = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        try:
            await manager.retry_job(job)
            retried += 1
        except pq.UniqueViolation:  # its queueing lock is taken by a waiting job
            with contextlib.suppress(pq.ConnectorException):
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
        except pq.ConnectorException:
            continue  # another worker dealt with it first
        log.warning("queue_stalled_job", job_id=job.id, task=job.task_name,
                    conversation_id=job.task_kwargs.get("conversation_id"))
    return retried


async def retry_stalled_forever(app: App, *, stalled_after: float) -> None:
    """`retry_stalled` every third of `stalled_after` (a worker's side task)."""
    while True:
        await asyncio.sleep(max(stalled_after / 3, 0.2))
        try:
            await retry_stalled(app, stalled_after=stalled_after)
        except pq.ConnectorException:
            log.exception("queue_stalled_check_failed")


class TurnQueue:
    """The webhooks' side on Postgres (`atende serve`): each message defers a job, worker
    processes (`atende worker`) run the turns. Serving needs no worker: jobs wait."""

    def __init__(self, app: App, store: Store, tenants: TenantRegistry):
        self.app = app
        self.store = store
        self.tenants = tenants

    async def start(self) -> int:
        return 0  # workers queue the pending conversations when they start

    async def notify(self, conversation_id: str, stored_at: datetime | None = None) -> None:
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            return
        window = self.tenants.get(conversation.tenant_id).debounce.window_seconds
        await enqueue(self.app, conversation_id, delay=window)

    async def idle(self) -> None:
        return None  # nothing runs here

    async def stop(self) -> None:
        return None
