"""Running scenarios: each trial gets a fresh SQLite file seeded from `given`, a frozen clock,
every turn on the path a WhatsApp message takes (the console channel's `ConsoleSession`: inbox,
`ConversationTurns.answer` → `run_turn`, `complete_turn`, outbox, sender), then the graders.

With a live model, `record` stores every HTTP exchange of a trial in
`<suite>/cassettes/<scenario-id>-t<trial>.yaml` (scrubbed) and `replay` answers them from there
with the network blocked.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from langchain_core.messages import SystemMessage
from pydantic import SecretStr

from atende.agent.context import ModelChain
from atende.agent.runtime import Atende, ModelFactory, default_transcriber, open_atende
from atende.agent.state import AudioInput
from atende.agent.tokens import count_messages, count_text
from atende.agent.transcribe import FakeTranscriber, Transcriber
from atende.agent.turn import thread_id
from atende.clock import FrozenClock
from atende.evals import seed
from atende.evals.cassettes import EMPTY_CASSETTE, eval_vcr, network_blocked
from atende.evals.graders import grade
from atende.evals.lint import Loaded
from atende.evals.scenario import Turn
from atende.evals.simulate import PatientSimulator
from atende.evals.trajectory import Check, ToolCall, Trajectory, TurnRecord
from atende.server.channels.console.session import ConsoleSession
from atende.settings import Settings
from atende.tenant import Tenant

TURN_GAP_SECONDS = 5  # the clock moves this much between turns: patients do not type instantly
VOICE_NOTE = b"OggS atende eval voice note"


def is_live(spec: str) -> bool:
    return spec.startswith("openai:")


@dataclass(frozen=True)
class RunOptions:
    model: str = "offline"
    trials: int = 1
    record: bool = False
    replay: bool = False
    settings: Settings = field(default_factory=lambda: Settings(_env_file=None))  # type: ignore[call-arg]


@dataclass
class TrialResult:
    trial: int
    checks: list[Check]
    trajectory: Trajectory
    notes: list[str] = field(default_factory=list)
    prompt_versions: list[str] = field(default_factory=list)
    cassette: str | None = None
    seconds: float = 0.0
    variant: int = 0  # 0: the scenario's own first message; i: its paraphrase i


    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


@dataclass
class ScenarioResult:
    loaded: Loaded
    trials: list[TrialResult] = field(default_factory=list)

    @property
    def successes(self) -> int:
        return sum(t.passed for t in self.trials)


def cassette_path(loaded: Loaded, trial: int) -> Path:
    return loaded.scenario.source.parent / "cassettes" / f"{loaded.scenario.id}-t{trial}.yaml"


def model_factory(spec: str, settings: Settings) -> ModelFactory:
    """The model under test for every turn; the tenant's own `model.name` does not apply here.

    A scripted model is built once per trial, so its queue runs across the turns."""
    from atende.agent.models.factory import load_chat_model

    if spec.startswith("scripted:"):
        from atende.agent.models.scripted import ScriptedChatModel

        chain = ModelChain(spec, ScriptedChatModel.from_file(spec.partition(":")[2]))
        return lambda tenant, now: chain

    def make(tenant: Tenant, now: datetime) -> ModelChain:
        return load_chat_model(spec, tenant=tenant, now=now, settings=settings)

    return make


def _audio(turn: Turn, index: int, live: bool) -> list[AudioInput]:
    if not turn.has_audio:
        return []
    if turn.audio_file is not None and (live or turn.transcript is None):
        return [AudioInput(data=turn.audio_file.read_bytes(), filename=turn.audio_file.name)]
    return [AudioInput(data=VOICE_NOTE, filename=f"turn-{index}.ogg", transcript=turn.transcript)]


async def _estimate(app: Atende, loaded: Loaded, record: TurnRecord, spec: str) -> None:
    """Tokens counted with tiktoken when the model reported none: the last prompt and output."""
    config: Any = {"configurable": {"thread_id": thread_id(
        loaded.tenant.id, seed.phone_of("self", loaded))}}
    values = (await app.graph.aget_state(config)).values or {}
    messages = values.get("messages") or []
    prompt = [SystemMessage(content=values.get("system_prompt") or ""), *messages[:-1]]
    name = spec if is_live(spec) else None
    record.tokens_in = count_messages(prompt, name) if messages else 0
    record.tokens_out = count_text(record.reply or "", name) + sum(
        count_text(json.dumps(c.args, ensure_ascii=False), name) for c in record.tool_calls)
    record.tokens_estimated = True


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


async def _turn(session: ConsoleSession, loaded: Loaded, spec: str, text: str | None,
                audio: list[AudioInput], transcript: str | None, simulated: bool, *,
                phone: str | None = None) -> TurnRecord:
    started = time.perf_counter()
    try:
        answer = await session.say(phone or loaded.scenario.patient.phone, text, audio)
    except Exception as exc:  # one broken scenario must not stop the suite: it fails, loudly
        return TurnRecord(user=text, reply=None, transcript=transcript, simulated=simulated,
                          latency_ms=(time.perf_counter() - started) * 1000,
                          error=f"{type(exc).__name__}: {_first_line(exc)}", crashed=True)
    result = answer.result
    if result is None:  # nothing to store: no text, no voice note
        return TurnRecord(user=text, reply=None, transcript=transcript, skipped="empty",
                          simulated=simulated, latency_ms=(time.perf_counter() - started) * 1000)
    record = TurnRecord(
        user=text, reply=result.as_text(),  # as the console shows it: choices numbered
        transcript=result.transcripts[0] if result.transcripts else transcript,
        tool_calls=[ToolCall(c.name, dict(c.args), c.ok, c.result) for c in result.tool_calls],
        skipped=result.skipped, handoff=result.handoff, model=result.model,
        tokens_in=result.tokens_in, tokens_out=result.tokens_out, simulated=simulated,
        latency_ms=(time.perf_counter() - started) * 1000,
        error=f"turn failed: {result.error}" if result.error else None,
    )
    if not (record.tokens_in or record.tokens_out) and record.skipped is None:
        await _estimate(session.app, loaded, record, spec)
    return record


async def _simulate(session: ConsoleSession, loaded: Loaded, options: RunOptions,
                    settings: Settings, traj: Trajectory, clock: FrozenClock) -> None:
    user = loaded.scenario.user
    assert user is not None
    simulator = PatientSimulator.for_spec(user, options.model, settings)
    for _ in range(user.max_turns):
        text, done = await simulator.next_message(traj.turns)
        if text:
            if traj.turns:
                clock.advance(seconds=TURN_GAP_SECONDS)
            traj.turns.append(await _turn(session, loaded, options.model, text, [], None, True))
        if done or (traj.turns and traj.turns[-1].crashed):
            break


def _transcriber(options: RunOptions, settings: Settings) -> Transcriber:
    live = default_transcriber(settings) if is_live(options.model) else None
    return live or FakeTranscriber({})  # a voice note with no fixture text is "not understood"


async def _play(loaded: Loaded, options: RunOptions, settings: Settings, traj: Trajectory,
                notes: list[str]) -> list[str]:
    scenario = loaded.scenario
    clock = FrozenClock(scenario.now)
    live = is_live(options.model)
    async with open_atende(settings, model=model_factory(options.model, settings), clock=clock,
                           transcriber=_transcriber(options, settings)) as app:
        await seed.seed(app.store, loaded, settings.database_url)
        traj.seeded = await seed.appointments(app.store, loaded)
        traj.leads_before = await seed.leads(app.store, loaded)
        traj.status_before = await seed.conversation_status(app.store, loaded)
        session = ConsoleSession(app, loaded.tenant)
        for i, turn in enumerate(scenario.turns):
            if i:
                clock.advance(seconds=TURN_GAP_SECONDS)
            if turn.wait_minutes:
                clock.advance(minutes=turn.wait_minutes)
            if turn.advance is not None:  # time passes: what the clinic writes first
                clock.advance(seconds=turn.advance.total_seconds())
                sent = await session.tick()
                traj.turns.append(TurnRecord(user=None, reply="\n\n".join(t for _, t in sent),
                                             sent=sent))
                continue
            record = await _turn(session, loaded, options.model, turn.user, _audio(turn, i, live),
                                 turn.transcript, False, phone=turn.speaker)
            traj.turns.append(record)
            if record.crashed:
                break  # an exception, not an apology: the conversation cannot go on
        if scenario.user is not None:
            if live:
                await _simulate(session, loaded, options, settings, traj, clock)
            else:
                notes.append(f"simulated patient skipped: {options.model} is not a live model")
        traj.final = await seed.appointments(app.store, loaded)
        traj.leads_after = await seed.leads(app.store, loaded)
        traj.status_after = await seed.conversation_status(app.store, loaded)
        found = await app.store.find_conversation(loaded.tenant.id,
                                                  seed.phone_of("self", loaded))
        turns = await app.store.list_turns(found.id) if found else []
    return list(dict.fromkeys(t.prompt_version for t in turns if t.prompt_version))


def _fell_back(spec: str, traj: Trajectory) -> list[Check]:
    if not is_live(spec):
        return []
    off = [f"turns[{i}] answered by {t.model}" for i, t in enumerate(traj.turns)
           if t.model and t.model != spec]
    return [Check("model", not off, "; ".join(off) + " (the model under test failed)")] if off \
        else []


def _settings(options: RunOptions, folder: str) -> Settings:
    update: dict[str, Any] = {"database_url": f"sqlite:///{folder}/eval.db"}
    if options.replay:  # no key is needed to replay; no retry can help a missing recording
        update["model_max_retries"] = 0
        if not options.settings.has_openai_key:
            update["openai_api_key"] = SecretStr("replay-no-key")
    return options.settings.model_copy(update=update)


async def run_trial(loaded: Loaded, trial: int, options: RunOptions, variant: int = 0
                    ) -> TrialResult:
    """One trial of one scenario, graded; `variant` i > 0 words its first message as its
    paraphrase i."""
    if variant:
        loaded = replace(loaded, scenario=loaded.scenario.variant(variant))
    traj = Trajectory()
    notes: list[str] = []
    started = time.perf_counter()
    cassette = cassette_path(loaded, trial) if options.record or options.replay else None
    checks: list[Check] = []
    versions: list[str] = []
    tape: Any = None  # the vcrpy cassette while it plays
    with tempfile.TemporaryDirectory(prefix="atende-eval-") as folder, ExitStack() as stack:
        settings = _settings(options, folder)
        missing = cassette is not None and options.replay and not cassette.is_file()
        if missing:
            checks.append(Check("cassette", False, f"no recording at {cassette}; run with --record"))
        else:
            if cassette is not None:
                cassette.parent.mkdir(parents=True, exist_ok=True)
                if options.replay:
                    stack.enter_context(network_blocked())
                tape = stack.enter_context(eval_vcr(cassette, record=options.record))
            try:
                versions = await _play(loaded, options, settings, traj, notes)
            except Exception as exc:  # seeding or the store failed: the trial fails, the suite goes on
                checks.append(Check("run", False, f"{type(exc).__name__}: {_first_line(exc)}"))
            if cassette is not None and options.replay and not tape.all_played:
                checks.append(Check("cassette", False, f"{cassette.name}: the replay diverged "
                                                       f"from the recording (unplayed exchanges)"))
    if cassette is not None and options.record and not cassette.exists():
        cassette.write_text(EMPTY_CASSETTE, encoding="utf-8")  # the trial made no HTTP call
    if not missing:  # nothing ran without a recording: there is nothing to grade
        checks = [*checks, *_fell_back(options.model, traj), *grade(loaded, traj)]
    return TrialResult(trial, checks, traj, notes, versions,
                       str(cassette) if cassette is not None else None,
                       time.perf_counter() - started, variant)


async def run_suite(scenarios: list[Loaded], options: RunOptions,
                    progress: Callable[[ScenarioResult, TrialResult], None] | None = None
                    ) -> list[ScenarioResult]:
    """Every trial of every scenario, one at a time (trials share nothing but the files)."""
    results = []
    for loaded in scenarios:
        result = ScenarioResult(loaded)
        # k trials of the scenario as written, then one more per paraphrase of its first message
        rounds = [(trial, 0) for trial in range(1, options.trials + 1)]
        rounds += [(options.trials + i, i)
                   for i in range(1, len(loaded.scenario.paraphrases) + 1)]
        for trial, variant in rounds:
            outcome = await run_trial(loaded, trial, options, variant)
            result.trials.append(outcome)
            if progress is not None:
                progress(result, outcome)
        results.append(result)
    return results
