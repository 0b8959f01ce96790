"""The clinic's Google Calendars mirrored in the store: busy time mirrored from them with each
calendar's sync state, the push channels watching them, and the durable jobs writing bookings
there. Standard SQL written once (`script.Step`s run by each backend's `_script`).

A page of a sync is applied in one transaction (its busy rows, its deletions and, on the last
page, the new sync token), so a reader never sees a token that is ahead of the rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..records import (
    CALENDAR_JOB_ACTIONS,
    CalendarBusy,
    CalendarChannel,
    CalendarJob,
    CalendarJobAction,
    CalendarSyncState,
    check_choice,
)
from .base import Scripted
from .proactive import _in
from .script import Step, is_id, new_id

_UPSERT_BUSY = (
    "INSERT INTO calendar_busy (tenant_id, professional_id, calendar_id, event_id, starts_at,"
    " ends_at, summary, updated_at) VALUES (:tenant_id, :professional_id, :calendar_id,"
    " :event_id, :starts_at, :ends_at, :summary, :now)"
    " ON CONFLICT (tenant_id, calendar_id, event_id) DO UPDATE SET"
    " professional_id = excluded.professional_id, starts_at = excluded.starts_at,"
    " ends_at = excluded.ends_at, summary = excluded.summary, updated_at = excluded.updated_at"
)
_DELETE_BUSY = ("DELETE FROM calendar_busy WHERE tenant_id = :tenant_id"
                " AND calendar_id = :calendar_id AND event_id = :event_id")
_SYNCED = (
    "INSERT INTO calendar_sync (tenant_id, calendar_id, sync_token, synced_at, updated_at)"
    " VALUES (:tenant_id, :calendar_id, :sync_token, :now, :now)"
    " ON CONFLICT (tenant_id, calendar_id) DO UPDATE SET sync_token = excluded.sync_token,"
    " synced_at = excluded.synced_at, updated_at = excluded.updated_at"
)


class CalendarSync(Scripted):
    # busy time and sync state

    async def calendar_apply(self, tenant_id: str, calendar_id: str, *, professional_id: str,
                             busy: Sequence[CalendarBusy] = (), removed: Sequence[str] = (),
                             reset: bool = False, sync_token: str | None = None
                             ) -> None:
        now = self._now()
        key = {"tenant_id": tenant_id, "calendar_id": calendar_id, "now": now}
        steps: list[Step] = []
        if reset:
            steps += [
                Step("DELETE FROM calendar_busy WHERE tenant_id = :tenant_id"
                     " AND calendar_id = :calendar_id", key),
                Step("DELETE FROM calendar_sync WHERE tenant_id = :tenant_id"
                     " AND calendar_id = :calendar_id", key),
            ]
        steps += [Step(_DELETE_BUSY, {**key, "event_id": event_id}) for event_id in removed]
        for row in busy:
            if row.ends_at <= row.starts_at:
                raise ValueError(f"busy time of event {row.event_id} ends before it starts")
            steps.append(Step(_UPSERT_BUSY, {
                **key, "professional_id": professional_id, "event_id": row.event_id,
                "starts_at": self._instant(row.starts_at), "ends_at": self._instant(row.ends_at),
                "summary": row.summary[:200]}))
        if sync_token is not None:
            steps.append(Step(_SYNCED, {**key, "sync_token": sync_token}))
        if steps:
            await self._script(tenant_id, steps)

    async def calendar_busy(self, tenant_id: str, *, start: datetime, end: datetime,
                            professional_ids: Sequence[str] | None = None
                            ) -> list[CalendarBusy]:
        where = ["tenant_id = :tenant_id", "starts_at < :end", "ends_at > :start"]
        params: dict[str, Any] = {"tenant_id": tenant_id, "start": self._instant(start),
                                  "end": self._instant(end)}
        if professional_ids is not None:
            if not professional_ids:
                return []
            clause, names = _in("professional_id", professional_ids, "p")
            where.append(clause)
            params.update(names)
        return await self._rows(tenant_id, CalendarBusy, Step(
            f"SELECT * FROM calendar_busy WHERE {' AND '.join(where)}"
            " ORDER BY starts_at, calendar_id, event_id", params))

    async def calendar_sync_states(self, tenant_id: str) -> list[CalendarSyncState]:
        return await self._rows(tenant_id, CalendarSyncState, Step(
            "SELECT * FROM calendar_sync WHERE tenant_id = :tenant_id ORDER BY calendar_id",
            {"tenant_id": tenant_id}))

    # push channels

    async def calendar_channel_add(self, tenant_id: str, *, channel_id: str, calendar_id: str,
                                   resource_id: str, token_hash: str, expires_at: datetime
                                   ) -> CalendarChannel:
        rows = await self._script(tenant_id, [Step(
            "INSERT INTO calendar_channels (tenant_id, channel_id, calendar_id, resource_id,"
            " token_hash, expires_at, created_at) VALUES (:tenant_id, :channel_id, :calendar_id,"
            " :resource_id, :token_hash, :expires_at, :now) RETURNING *",
            {"tenant_id": tenant_id, "channel_id": channel_id, "calendar_id": calendar_id,
             "resource_id": resource_id, "token_hash": token_hash,
             "expires_at": self._instant(expires_at), "now": self._now()},
            returns=CalendarChannel)])
        assert rows, "an insert returns its row"
        return rows[0]  # type: ignore[no-any-return]

    async def calendar_channels(self, tenant_id: str, *, channel_id: str | None = None,
                                expiring_before: datetime | None = None
                                ) -> list[CalendarChannel]:
        where, params = ["tenant_id = :tenant_id"], {"tenant_id": tenant_id}
        if channel_id is not None:
            where.append("channel_id = :channel_id")
            params["channel_id"] = channel_id
        if expiring_before is not None:
            where.append("expires_at < :before")
            params["before"] = self._instant(expiring_before)
        return await self._rows(tenant_id, CalendarChannel, Step(
            f"SELECT * FROM calendar_channels WHERE {' AND '.join(where)}"
            " ORDER BY expires_at, channel_id", params))

    async def calendar_channel_remove(self, tenant_id: str, channel_id: str) -> bool:
        return await self._script(tenant_id, [Step(
            "DELETE FROM calendar_channels WHERE tenant_id = :tenant_id"
            " AND channel_id = :channel_id", {"tenant_id": tenant_id, "channel_id": channel_id},
            require=True)]) is not None

    # jobs writing appointments to the calendar

    async def calendar_job_add(self, tenant_id: str, appointment_id: str,
                               action: CalendarJobAction, *, version: str, due_at: datetime
                               ) -> CalendarJob | None:
        check_choice("action", action, CALENDAR_JOB_ACTIONS)
        if not is_id(appointment_id):
            return None
        rows = await self._script(tenant_id, [Step(
            "INSERT INTO calendar_jobs (id, tenant_id, appointment_id, action, version, attempts,"
            " next_at, created_at) SELECT :id, tenant_id, id, :action, :version, 0, :due, :now"
            " FROM appointments WHERE id = :appointment_id AND tenant_id = :tenant_id"
            " ON CONFLICT (appointment_id, action, version) DO NOTHING RETURNING *",
            {"id": new_id(), "tenant_id": tenant_id, "appointment_id": appointment_id,
             "action": action, "version": version, "due": self._instant(due_at),
             "now": self._now()}, returns=CalendarJob)])
        return rows[0] if rows else None

    async def calendar_jobs_claim(self, tenant_id: str, now: datetime, *, lease_until: datetime,
                                  limit: int = 20) -> list[CalendarJob]:
        return await self._rows(tenant_id, CalendarJob, Step(
            "UPDATE calendar_jobs SET next_at = :lease, attempts = attempts + 1"
            " WHERE tenant_id = :tenant_id AND done_at IS NULL AND next_at <= :now AND id IN"
            " (SELECT id FROM calendar_jobs WHERE tenant_id = :tenant_id AND done_at IS NULL"
            " AND next_at <= :now ORDER BY next_at, created_at LIMIT :limit) RETURNING *",
            {"tenant_id": tenant_id, "now": self._instant(now),
             "lease": self._instant(lease_until), "limit": max(limit, 0)}))

    async def calendar_job_settle(self, tenant_id: str, job_id: str, *,
                                  retry_at: datetime | None = None, error: str | None = None
                                  ) -> bool:
        params = {"tenant_id": tenant_id, "id": job_id, "now": self._now(),
                  "error": None if error is None else error[:500]}
        if retry_at is None:
            sql = "UPDATE calendar_jobs SET done_at = :now, last_error = :error"
        else:
            sql = "UPDATE calendar_jobs SET next_at = :retry, last_error = :error"
            params["retry"] = self._instant(retry_at)
        return await self._changed(tenant_id, job_id, Step(
            sql + " WHERE tenant_id = :tenant_id AND id = :id AND done_at IS NULL", params,
            require=True))

    async def calendar_jobs(self, tenant_id: str, *, appointment_id: str | None = None
                            ) -> list[CalendarJob]:
        where, params = "tenant_id = :tenant_id", {"tenant_id": tenant_id}
        if appointment_id is not None:
            if not is_id(appointment_id):
                return []
            where += " AND appointment_id = :appointment_id"
            params["appointment_id"] = appointment_id
        return await self._rows(tenant_id, CalendarJob, Step(
            f"SELECT * FROM calendar_jobs WHERE {where} ORDER BY created_at, id", params))
