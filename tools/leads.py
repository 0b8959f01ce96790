"""CRM and handoff behind the tools: qualify the lead, hand the conversation to a human."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from atende.errors import PolicyViolation
from atende.memory.records import LEAD_STAGES, LeadStage
from atende.tools.scope import Scope


async def update_lead(scope: Scope, *, name: str | None, interest: str | None,
                      stage: str | None, notes: str | None) -> dict[str, Any]:
    if stage is not None and stage not in LEAD_STAGES:
        raise PolicyViolation(f"Etapa desconhecida {stage!r}; use uma de: {', '.join(LEAD_STAGES)}.")
    clean_name = " ".join(name.split()).strip(" .,!") if name else None
    if clean_name is not None and not (1 < len(clean_name) <= 80):
        raise PolicyViolation("Nome inválido.")
    patient = await scope.store.update_patient(
        scope.tenant.id, scope.patient_phone, name=clean_name or None,
        interest=interest, stage=stage if stage is None else _stage(stage), add_note=notes,
    )
    return {"ok": True, "patient": {"name": patient.name, "stage": patient.stage,
                                    "interest": patient.interest}}


def _stage(value: str) -> LeadStage:
    return next(s for s in LEAD_STAGES if s == value)


async def request_human(scope: Scope, reason: str) -> dict[str, Any]:
    until = scope.now + timedelta(hours=scope.tenant.handoff.pause_hours)
    await scope.store.pause_conversation(
        scope.conversation_id, until=until, reason=(reason or "pedido do paciente")[:500]
    )
    return {"ok": True, "action": "handoff", "message": scope.tenant.handoff.message}
