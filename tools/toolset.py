"""The LLM's tools: typed LangChain tools whose pt-BR docstrings are the model's contract.

Identity (clinic, patient phone, conversation) comes from the turn's `Scope` through
`ToolRuntime`; it is not in any schema, so the model cannot name another patient or clinic.
A `DomainError` (slot taken, unknown service, too late to cancel) becomes a tool message
the model reads and re-plans on; anything else propagates to the turn boundary.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime

from atende.errors import DomainError
from atende.tools import booking, info, leads, proactive
from atende.tools.scope import Scope
from atende.tools.when import Asked

ToolResult = tuple[str, dict[str, Any]]
_HIDDEN = ("turn_id", "choices")


async def _run(runtime: ToolRuntime[Any, Any],
               call: Callable[[Scope], Awaitable[dict[str, Any]]]) -> ToolResult:
    scope: Scope = runtime.context.scope  # the turn's TurnContext
    try:
        artifact = await call(scope)
    except DomainError as exc:
        artifact = {"ok": False, "code": exc.code, "message": str(exc),
                    **({"hint": exc.hint} if exc.hint else {})}
    artifact["turn_id"] = scope.turn_id
    # `choices` restate the slots for the channel that shows them: the model reads the slots
    visible = {k: v for k, v in artifact.items() if k not in _HIDDEN}
    return json.dumps(visible, ensure_ascii=False), artifact


async def _sync(result: dict[str, Any]) -> dict[str, Any]:
    return result


@tool(response_format="content_and_artifact", parse_docstring=True)
async def check_availability(
    service: str,
    runtime: ToolRuntime[Any, Any],
    when: str | None = None,
    professional: str | None = None,
    date: str = "",
    date_to: str = "",
    time: str = "",
    time_from: str = "",
    time_to: str = "",
    period: Literal["", "manha", "tarde", "noite"] = "",
) -> ToolResult:
    """Consulta horários livres de um serviço. Use SEMPRE antes de oferecer ou marcar horários.

    Os `slots` devolvidos aqui chegam ao paciente sozinhos, logo abaixo da sua resposta,
    numerados pelo `n` de cada um (ou numa lista para tocar): não os repita no texto. Escreva
    só uma frase curta que os apresente e pergunte qual ele prefere; se `alternative` vier
    verdadeiro, explique o `note` antes. Nunca ofereça um horário que não veio daqui.

    Args:
        service: o serviço como o paciente disse (ex.: "limpeza", "avaliação").
        when: as palavras do paciente sobre dia/horário, sem converter (ex.: "amanhã de manhã",
            "sexta às 10h", "dia 15", "semana que vem"). Omita para o primeiro horário livre.
        professional: nome do profissional, se o paciente pediu um (ex.: "Dra. Ana").
        date: dia AAAA-MM-DD, se `when` não for entendido (refina `when`).
        date_to: fim do intervalo, AAAA-MM-DD.
        time: horário exato, HH:MM.
        time_from: início da janela de horário, HH:MM.
        time_to: fim da janela (exclusivo), HH:MM.
        period: parte do dia.
    """
    asked = Asked(date=date or None, date_to=date_to or None, time=time or None,
                  time_from=time_from or None, time_to=time_to or None, period=period or None)
    return await _run(runtime, lambda s: booking.check_availability(
        s, service, when, professional, asked))


@tool(response_format="content_and_artifact", parse_docstring=True)
async def book_appointment(slot_id: str, runtime: ToolRuntime[Any, Any]) -> ToolResult:
    """Marca a consulta no horário escolhido pelo paciente.

    Só chame depois que o paciente escolheu um dos horários oferecidos por
    `check_availability`. Só diga que está agendado se o resultado vier com `ok: true`.

    Args:
        slot_id: o `slot_id` exato do horário escolhido, copiado do resultado de
            `check_availability`.
    """
    return await _run(runtime, lambda s: booking.book(s, slot_id))


@tool(response_format="content_and_artifact", parse_docstring=True)
async def cancel_appointment(appointment_id: str, runtime: ToolRuntime[Any, Any]
                             ) -> ToolResult:
    """Cancela uma consulta do próprio paciente, depois que ele confirmou que quer cancelar.

    Args:
        appointment_id: o `id` da consulta, vindo de `list_my_appointments`.
    """
    return await _run(runtime, lambda s: booking.cancel(s, appointment_id))


@tool(response_format="content_and_artifact", parse_docstring=True)
async def reschedule_appointment(appointment_id: str, slot_id: str,
                                 runtime: ToolRuntime[Any, Any]) -> ToolResult:
    """Remarca uma consulta do próprio paciente para um novo horário livre.

    Antes, use `list_my_appointments` para achar a consulta e `check_availability` para
    oferecer novos horários do mesmo serviço.

    Args:
        appointment_id: o `id` da consulta a remarcar, vindo de `list_my_appointments`.
        slot_id: o `slot_id` do novo horário escolhido, vindo de `check_availability`.
    """
    return await _run(runtime, lambda s: booking.reschedule(s, appointment_id, slot_id))


@tool(response_format="content_and_artifact", parse_docstring=True)
async def list_my_appointments(runtime: ToolRuntime[Any, Any]) -> ToolResult:
    """Lista as próximas consultas ativas do paciente desta conversa (só as dele)."""
    return await _run(runtime, booking.my_appointments)


@tool(response_format="content_and_artifact", parse_docstring=True)
async def list_services(runtime: ToolRuntime[Any, Any], query: str | None = None
                        ) -> ToolResult:
    """Lista serviços com preço, duração, convênios e preço promocional quando houver.

    Use para qualquer pergunta de preço ou serviço: só informe valores que vierem daqui.

    Args:
        query: o serviço que o paciente perguntou (ex.: "limpeza"); omita para todos.
    """
    return await _run(runtime, lambda s: _sync(info.list_services(s, query)))


@tool(response_format="content_and_artifact", parse_docstring=True)
async def list_promotions(runtime: ToolRuntime[Any, Any]) -> ToolResult:
    """Lista as promoções válidas hoje na clínica (as vencidas não aparecem)."""
    return await _run(runtime, lambda s: _sync(info.list_promotions(s)))


@tool(response_format="content_and_artifact", parse_docstring=True)
async def update_lead(
    runtime: ToolRuntime[Any, Any],
    name: str | None = None,
    interest: str | None = None,
    stage: Literal["new", "engaged", "qualified", "scheduled", "customer", "lost"] | None = None,
    notes: str | None = None,
) -> ToolResult:
    """Atualiza o cadastro do paciente/lead desta conversa (CRM).

    Chame quando o paciente disser o nome, o interesse (serviço) ou algo útil para a equipe.

    Args:
        name: nome do paciente, como ele se apresentou.
        interest: o serviço ou tratamento de interesse.
        stage: etapa do funil: new, engaged, qualified, scheduled, customer ou lost.
        notes: observação curta para a equipe (ex.: "prefere horários à tarde").
    """
    return await _run(runtime, lambda s: leads.update_lead(
        s, name=name, interest=interest, stage=stage, notes=notes))


@tool(response_format="content_and_artifact", parse_docstring=True)
async def request_human(reason: str, runtime: ToolRuntime[Any, Any]) -> ToolResult:
    """Passa a conversa para a equipe humana da clínica e pausa o assistente.

    Use quando o paciente pedir para falar com uma pessoa, em reclamações, urgências,
    dúvidas clínicas, ou quando você não conseguir ajudar.

    Args:
        reason: motivo curto (ex.: "paciente pediu atendente", "dúvida sobre medicação").
    """
    return await _run(runtime, lambda s: leads.request_human(s, reason))


@tool(response_format="content_and_artifact", parse_docstring=True)
async def confirm_appointment(appointment_id: str, runtime: ToolRuntime[Any, Any]) -> ToolResult:
    """Confirma a presença do paciente numa consulta dele, quando ele responde ao lembrete
    que vai.

    Args:
        appointment_id: o `id` da consulta do lembrete (no contexto).
    """
    return await _run(runtime, lambda s: proactive.confirm(s, appointment_id))


@tool(response_format="content_and_artifact", parse_docstring=True)
async def join_waitlist(service: str, runtime: ToolRuntime[Any, Any],
                        professional: str | None = None, period: str | None = None
                        ) -> ToolResult:
    """Põe o paciente na lista de espera de um serviço (quer um horário antes dos oferecidos
    ou pede para ser avisado se vagar).

    Args:
        service: o serviço (ex.: "limpeza").
        professional: o profissional, se pediu um.
        period: "manha", "tarde" ou "noite", se pediu.
    """
    return await _run(runtime, lambda s: proactive.join_waitlist(s, service, professional, period))


@tool(response_format="content_and_artifact", parse_docstring=True)
async def answer_waitlist_offer(accept: bool, runtime: ToolRuntime[Any, Any]) -> ToolResult:
    """Responde à oferta de horário da lista de espera (no contexto); aceitar marca a consulta.

    Args:
        accept: true se o paciente quer o horário; false se não.
    """
    return await _run(runtime, lambda s: proactive.answer_offer(s, accept))


@tool(response_format="content_and_artifact", parse_docstring=True)
async def stop_messages(runtime: ToolRuntime[Any, Any]) -> ToolResult:
    """Para de enviar lembretes e avisos a este paciente (ele pediu: "parar", "não quero mais
    receber"). Ele ainda pode escrever e ser atendido."""
    return await _run(runtime, proactive.stop_messages)


TOOLS: list[BaseTool] = [
    check_availability,
    book_appointment,
    cancel_appointment,
    reschedule_appointment,
    list_my_appointments,
    list_services,
    list_promotions,
    update_lead,
    request_human,
    confirm_appointment,
    join_waitlist,
    answer_waitlist_offer,
    stop_messages,
]
WRITE_ACTIONS = {"booked", "cancelled", "rescheduled", "confirmed"}
