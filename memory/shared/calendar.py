"""The clinic's calendar core: conflicts with outside calendars (Google, Calendly) and blocked
time (a professional's time off). Checks and SQL written once (`script.Step`s run by each
backend's `_script`); no backend code."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from atende.errors import NotFound

from ..records import (
    ACTIVE_STATUSES,
    BLOCK_MAX,
    BLOCK_NOT_FOUND,
    CALENDAR_SOURCES,
    CONFLICT_NOT_FOUND,
    Block,
    BusySpan,
    CalendarConflict,
    check_choice,
    check_period,
)
from .base import Scripted
from .script import Step, is_id, new_id

# appointments are found by their start (indexed): one starting this long before a window may
# still reach into it (blocks: up to `BLOCK_MAX`)
LONGEST_APPOINTMENT = timedelta(hours=12)
_SUMMARY_MAX = 500
_REASON_MAX = 500
_BLOCKS_IN = ("tenant_id = :tenant_id AND starts_at >= :blocks_from AND starts_at < :end"
              " AND ends_at > :start")
_CONFLICT_KEY = ("tenant_id = :tenant_id AND source = :source AND external_id = :external_id"
                 " AND appointment_key = :appointment_key")


def _among(column: str, values: Sequence[str] | None, params: dict[str, Any]) -> str:
    """` AND column IN (:p0, ...)` for `values` (nothing when None), adding the parameters."""
    if values is None:
        return ""
    names = {f"p{i}": v for i, v in enumerate(dict.fromkeys(values))}
    params.update(names)
    return f" AND {column} IN ({', '.join(':' + n for n in names)})"


def _text(name: str, value: str, cap: int, *, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValueError(f"{name} must not be empty")
    return value[:cap]


class CalendarCore(Scripted):
    # conflicts

    async def conflict_add(self, tenant_id: str, *, source: str, external_id: str,
                           professional_id: str | None, starts_at: datetime, ends_at: datetime,
                           appointment_id: str | None, summary: str) -> CalendarConflict:
        check_choice("source", source, CALENDAR_SOURCES)
        external_id = _text("external_id", external_id, 1000, required=True)
        start, end = check_period(starts_at, ends_at)
        if appointment_id is not None and not is_id(appointment_id):
            raise ValueError(f"appointment_id must be an appointment's id; got {appointment_id!r}")
        params = {"id": new_id(), "tenant_id": tenant_id, "source": source,
                  "external_id": external_id, "professional_id": professional_id,
                  "starts_at": self._instant(start), "ends_at": self._instant(end),
                  "appointment_id": appointment_id, "appointment_key": appointment_id or "",
                  "summary": _text("summary", summary, _SUMMARY_MAX, required=True),
                  "now": self._now()}
        rows = await self._script(tenant_id, [
            Step("INSERT INTO calendar_conflicts (id, tenant_id, source, external_id,"
                 " professional_id, starts_at, ends_at, appointment_id, appointment_key, summary,"
                 " created_at) VALUES (:id, :tenant_id, :source, :external_id, :professional_id,"
                 " :starts_at, :ends_at, :appointment_id, :appointment_key, :summary, :now)"
                 " ON CONFLICT (tenant_id, source, external_id, appointment_key) DO NOTHING",
                 params),
            Step(f"SELECT * FROM calendar_conflicts WHERE {_CONFLICT_KEY}", params,
                 returns=CalendarConflict),
        ])
        assert rows, "the conflict was inserted or already there"
        return rows[0]  # type: ignore[no-any-return]

    async def conflicts_list(self, tenant_id: str, *, open_only: bool = True, limit: int = 100
                             ) -> list[CalendarConflict]:
        still_open = " AND resolved_at IS NULL" if open_only else ""
        return await self._rows(tenant_id, CalendarConflict, Step(
            f"SELECT * FROM calendar_conflicts WHERE tenant_id = :tenant_id{still_open}"
            " ORDER BY starts_at, created_at, id LIMIT :limit",
            {"tenant_id": tenant_id, "limit": max(limit, 0)}))

    async def conflict_resolve(self, tenant_id: str, conflict_id: str) -> CalendarConflict:
        rows = await self._script(tenant_id, [Step(
            "UPDATE calendar_conflicts SET resolved_at = COALESCE(resolved_at, :now)"
            " WHERE tenant_id = :tenant_id AND id = :id RETURNING *",
            {"tenant_id": tenant_id, "id": conflict_id, "now": self._now()},
            returns=CalendarConflict)]) if is_id(conflict_id) else None
        if not rows:
            raise NotFound(CONFLICT_NOT_FOUND)
        return rows[0]  # type: ignore[no-any-return]

    # blocks

    async def block_add(self, tenant_id: str, professional_id: str, *, starts_at: datetime,
                        ends_at: datetime, reason: str = "", created_by: str | None = None
                        ) -> Block:
        professional_id = _text("professional_id", professional_id, 200, required=True)
        start, end = check_period(starts_at, ends_at, longest=BLOCK_MAX)
        rows = await self._script(tenant_id, [Step(
            "INSERT INTO blocks (id, tenant_id, professional_id, starts_at, ends_at, reason,"
            " created_by, created_at) VALUES (:id, :tenant_id, :professional_id, :starts_at,"
            " :ends_at, :reason, :created_by, :now) RETURNING *",
            {"id": new_id(), "tenant_id": tenant_id, "professional_id": professional_id,
             "starts_at": self._instant(start), "ends_at": self._instant(end),
             "reason": _text("reason", reason, _REASON_MAX, required=False),
             "created_by": created_by, "now": self._now()}, returns=Block)])
        assert rows, "an insert returns its row"
        return rows[0]  # type: ignore[no-any-return]

    async def blocks_between(self, tenant_id: str, start: datetime, end: datetime,
                             professional_ids: Sequence[str] | None = None) -> list[Block]:
        if professional_ids is not None and not professional_ids:
            return []
        params = self._window(tenant_id, start, end)
        only = _among("professional_id", professional_ids, params)
        return await self._rows(tenant_id, Block, Step(
            f"SELECT * FROM blocks WHERE {_BLOCKS_IN}{only} ORDER BY starts_at, id", params))

    async def busy_spans(self, tenant_id: str, start: datetime, end: datetime, *,
                         professional_ids: Sequence[str] | None = None,
                         exclude_appointment: str | None = None) -> list[BusySpan]:
        if professional_ids is not None and not professional_ids:
            return []
        params = self._window(tenant_id, start, end)
        only = _among("professional_id", professional_ids, params)
        skip = ""
        if exclude_appointment is not None and is_id(exclude_appointment):
            skip, params["exclude"] = " AND id <> :exclude", exclude_appointment
        statuses = ", ".join(f"'{s}'" for s in ACTIVE_STATUSES)
        return await self._rows(tenant_id, BusySpan, Step(
            "SELECT professional_id, start_utc AS starts_at, end_utc AS ends_at,"
            " 'appointment' AS kind FROM appointments WHERE tenant_id = :tenant_id"
            f" AND status IN ({statuses}) AND start_utc >= :appointments_from"
            f" AND start_utc < :end AND end_utc > :start{only}{skip}"
            " UNION ALL SELECT professional_id, starts_at, ends_at, 'block' AS kind FROM blocks"
            f" WHERE {_BLOCKS_IN}{only}", params))

    def _window(self, tenant_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        """The parameters of a [start, end) overlap query, with the index-friendly lower
        bounds of the rows' starts."""
        start, end = check_period(start, end)
        return {"tenant_id": tenant_id, "start": self._instant(start), "end": self._instant(end),
                "appointments_from": self._instant(start - LONGEST_APPOINTMENT),
                "blocks_from": self._instant(start - BLOCK_MAX)}

    async def block_remove(self, tenant_id: str, block_id: str, *,
                           professional_id: str | None = None) -> Block:
        params = {"tenant_id": tenant_id, "id": block_id, "professional_id": professional_id}
        only = "" if professional_id is None else " AND professional_id = :professional_id"
        rows = await self._script(tenant_id, [Step(
            f"DELETE FROM blocks WHERE tenant_id = :tenant_id AND id = :id{only} RETURNING *",
            params, returns=Block)]) if is_id(block_id) else None
        if not rows:
            raise NotFound(BLOCK_NOT_FOUND)
        return rows[0]  # type: ignore[no-any-return]
