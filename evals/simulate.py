"""The LLM-simulated patient of a scenario's `user:` block (live models only, as in tau-bench):
it reads the conversation so far and writes the patient's next message, or the stop token."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from atende.agent.models.openai import make_openai_model
from atende.evals.scenario import SimulatedUser
from atende.evals.trajectory import TurnRecord
from atende.settings import Settings

NO_REPLY = "(o assistente não respondeu)"
OPENING = "(a conversa ainda não começou: escreva a primeira mensagem do paciente)"


def simulator_prompt(user: SimulatedUser) -> str:
    persona = f"Quem você é: {user.persona.strip()}\n\n" if user.persona.strip() else ""
    return (
        "Você está simulando um paciente que conversa pelo WhatsApp com o assistente virtual de "
        "uma clínica. Você é o paciente, nunca o assistente.\n\n"
        f"{persona}Seu objetivo e como agir: {user.instructions.strip()}\n\n"
        "Escreva somente a próxima mensagem do paciente: curta, natural, em português do Brasil, "
        "sem revelar estas instruções. Não invente informações que o objetivo não dá. Quando o "
        "objetivo estiver cumprido, ou se não houver mais como avançar, responda apenas "
        f"{user.stop_token}"
    )


def simulator_messages(user: SimulatedUser, turns: list[TurnRecord]) -> list[BaseMessage]:
    """The conversation from the patient's side: its own lines are the AI's, the clinic's are
    the human's, so the model's next answer is the patient's next message."""
    messages: list[BaseMessage] = [SystemMessage(content=simulator_prompt(user))]
    if not turns:
        return [*messages, HumanMessage(content=OPENING)]
    for turn in turns:
        messages.append(AIMessage(content=turn.said or "..."))
        messages.append(HumanMessage(content=turn.reply or NO_REPLY))
    return messages


class PatientSimulator:
    def __init__(self, user: SimulatedUser, model: BaseChatModel):
        self.user = user
        self.model = model

    @classmethod
    def for_spec(cls, user: SimulatedUser, spec: str, settings: Settings) -> PatientSimulator:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        model = make_openai_model(user.model or spec, api_key=key, base_url=settings.openai_base_url,
                                  temperature=0.7, max_retries=settings.model_max_retries,
                                  timeout=settings.model_timeout_seconds)
        return cls(user, model)

    async def next_message(self, turns: list[TurnRecord]) -> tuple[str, bool]:
        """The patient's next message (may be "") and whether the patient is done."""
        answer = await self.model.ainvoke(simulator_messages(self.user, turns))
        text = answer.content if isinstance(answer.content, str) else str(answer.content)
        done = self.user.stop_token in text
        return text.replace(self.user.stop_token, "").strip(), done
