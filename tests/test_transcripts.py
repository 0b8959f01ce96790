"""Transcripts: export stored conversations with pseudonymised phones, replay them through the
real graph with recorded tool results (`atende replay`), and keep them as eval scenarios."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from langchain_core.messages import SystemMessage, ToolMessage
from typer.testing import CliRunner

from atende.agent.context import ModelChain
from atende.agent.graph import build_graph
from atende.agent.models.scripted import ScriptedChatModel, call
from atende.agent.runtime import Atende
from atende.cli import app as cli
from atende.clock import FrozenClock
from atende.evals.pseudonyms import Pseudonymizer, fake_e164
from atende.evals.replay import Replayer, prompt_from_dir
from atende.evals.transcript_format import read_transcripts
from atende.memory.checkpoint import open_checkpointer
from atende.memory.records import NewAppointment
from atende.memory.sqlite import SQLiteStore
from atende.phones import normalize_phone
from helpers import ANA, BIA, ROOT, TUESDAY_NOW, SwitchableModel, example_tenant, say

TENANT = example_tenant()
KEY = "test-pseudonym-key"
STAFF_TEXT = "Oi Bia, aqui é a Carla da recepção. Se preferir, me liga: (11) 97777-1234"
ANA_SAYS = ["Oi, meu nome é Maria, meu celular é (11) 98765-0001",
            "quero marcar uma limpeza amanhã de manhã", "a segunda", "tenho consulta marcada?"]
BIA_SAYS = ["quero cancelar minha consulta", "sim", "qual o telefone de vocês?"]
RAW_PHONES = ["5511987650001", "987650001", "98765-0001", "5511987650002", "987650002",
              "97777-1234", "977771234"]
SLOT_ID = re.compile(r"^[a-z-]+\|[a-z]+\|2026-03-\d\dT\d\d:\d\d$")


async def _record(db: Path) -> None:
    """Two conversations through the console channel with the offline model, the store on the agent's
    clock (as in production, where both read the system clock)."""
    clock = FrozenClock(TUESDAY_NOW)
    url = f"sqlite:///{db}"
    store = SQLiteStore(url, clock=clock)
    await store.setup()
    try:
        async with open_checkpointer(url) as saver:
            app = Atende(store=store, checkpointer=saver, graph=build_graph(saver),
                         models=SwitchableModel(), clock=clock)
            for text in ANA_SAYS:
                await say(app, text, phone=ANA, tenant=TENANT)
                clock.advance(minutes=1)
            # Bia booked at the front desk last week; someone from the clinic writes first
            start = datetime.fromisoformat("2026-03-12T10:00-03:00")
            await store.book_appointment(NewAppointment(
                TENANT.id, "ana-souza", "limpeza", BIA, start, start + timedelta(minutes=45)))
            conversation = await store.get_or_create_conversation(TENANT.id, BIA, "console")
            await store.record_human_message(conversation.id, text=STAFF_TEXT,
                                             provider_message_id="staff-1",
                                             provider_ts=clock.now())
            for text in BIA_SAYS:
                clock.advance(minutes=2)
                await say(app, text, phone=BIA, tenant=TENANT)
    finally:
        await store.close()


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    db = tmp_path / "recorded.db"
    asyncio.run(_record(db))
    return db


def atende(*args: str, db: Path | None = None, key: str | None = KEY):
    env = {"ATENDE_DATABASE_URL": f"sqlite:///{db}" if db else "sqlite:///unused.db",
           "ATENDE_TENANTS_DIR": str(ROOT / "tenants"), "OPENAI_API_KEY": ""}
    if key is not None:
        env["ATENDE_PSEUDONYM_KEY"] = key
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def export(db: Path, out: Path, *extra: str, key: str | None = KEY):
    result = atende("transcripts", "export", "--tenant", "clinica-exemplo", "-o", str(out),
                    *extra, db=db, key=key)
    assert result.exit_code == 0, result.output
    return result


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def agent_turns(transcript: dict) -> list[dict]:
    return [t for t in transcript["turns"] if t["kind"] == "agent"]


def test_export_pseudonymises_every_phone_and_keeps_what_each_turn_did(recorded, tmp_path):
    out = tmp_path / "t.jsonl"
    export(recorded, out)
    text = out.read_text(encoding="utf-8")
    for raw in RAW_PHONES:
        assert raw not in text, raw
    ana, bia = lines(out)
    pseudonyms = Pseudonymizer(KEY)
    assert ana["phone"] == pseudonyms.phone(ANA) and re.fullmatch(r"\+55…-[0-9a-f]{6}-01",
                                                                   ana["phone"])
    assert bia["phone"] == pseudonyms.phone(BIA) and bia["phone"] != ana["phone"]
    turns = agent_turns(ana)
    assert [t["patient"][0]["text"] for t in turns][1:] == ANA_SAYS[1:]
    # the number she typed is the conversation's own pseudonym: one person, one pseudonym
    assert turns[0]["patient"][0]["text"] == f"Oi, meu nome é Maria, meu celular é {ana['phone']}"
    assert [[c["name"] for c in t["tool_calls"]] for t in turns] == [
        ["update_lead"], ["check_availability"], ["book_appointment"], ["list_my_appointments"]]
    booked = turns[2]["tool_calls"][0]
    assert booked["ok"] and SLOT_ID.match(booked["args"]["slot_id"])
    assert booked["result"]["appointment"]["status"] == "booked"
    assert "agendado" in turns[2]["reply"]
    assert {t["model"] for t in turns} == {"offline"}
    assert len({t["prompt_version"] for t in turns}) == 1 and turns[0]["prompt_version"]
    assert [t["at"] for t in turns] == sorted(t["at"] for t in turns)
    # clinic staff: in order, as such, pseudonymised too; the clinic's own number is public
    kinds = [t["kind"] for t in bia["turns"]]
    assert kinds == ["staff", "agent", "agent", "agent"]
    assert bia["turns"][0]["text"] == STAFF_TEXT.replace("(11) 97777-1234",
                                                         pseudonyms.phone("(11) 97777-1234"))
    assert "+55 11 3333-4444" in agent_turns(bia)[-1]["reply"]
    assert agent_turns(bia)[1]["tool_calls"][0]["name"] == "cancel_appointment"


def test_export_filters_and_a_key_made_up_per_export(recorded, tmp_path):
    one = tmp_path / "one.jsonl"
    export(recorded, one, "--phone", "(11) 98765-0002")
    (bia,) = lines(one)
    assert len(agent_turns(bia)) == 3
    none = tmp_path / "none.jsonl"
    assert "0 conversations" in export(recorded, none, "--since", "2026-03-11").output
    assert none.read_text() == ""
    assert len(lines(export_to(recorded, tmp_path / "since.jsonl", "2026-03-10T08:00-03:00"))) == 2
    bad = atende("transcripts", "export", "--tenant", "clinica-exemplo", "--since", "ontem",
                 db=recorded)
    assert bad.exit_code == 2 and "--since" in bad.output
    first = export(recorded, tmp_path / "a.jsonl", key=None)
    salt = re.search(r"pseudonym key of this export: ([0-9a-f]{32})", first.output)
    assert salt, first.output
    export(recorded, tmp_path / "b.jsonl", key=salt[1])
    assert [t["phone"] for t in lines(tmp_path / "a.jsonl")] == [
        t["phone"] for t in lines(tmp_path / "b.jsonl")]
    assert lines(tmp_path / "a.jsonl")[0]["phone"] != Pseudonymizer(KEY).phone(ANA)


def export_to(db: Path, out: Path, since: str) -> Path:
    export(db, out, "--since", since)
    return out


def test_replay_with_the_recorded_model_changes_nothing_and_writes_nowhere(recorded, tmp_path):
    out = tmp_path / "t.jsonl"
    export(recorded, out)
    before = hashlib.sha256(recorded.read_bytes()).hexdigest()
    report = tmp_path / "r.json"
    result = atende("replay", str(out), "--model", "offline", "--report", str(report),
                    db=recorded)
    assert result.exit_code == 0, result.output
    assert "7 turns: 7 unchanged, 0 changed, 0 diverged, 0 errors" in result.output
    data = json.loads(report.read_text(encoding="utf-8"))
    turns = [t for c in data["conversations"] for t in c["turns"]]
    assert [t["status"] for t in turns] == ["unchanged"] * 7
    assert all(t["new"]["reply"] == t["recorded"]["reply"] for t in turns)
    assert turns[2]["tool_calls"][0]["change"] == "same"
    assert hashlib.sha256(recorded.read_bytes()).hexdigest() == before


def _script(path: Path, recorded_reply: str) -> str:
    script = [
        {"reply": "Olá! Como posso ajudar?"},  # turn 1: no update_lead any more
        {"tool": "check_availability", "args": {"service": "limpeza", "when": "Amanhã de manhã"}},
        {"reply": "Tenho quarta às 08:00 ou às 08:30. Qual prefere?"},
        {"tool": "book_appointment", "args": {"slot_id": "ana-souza|limpeza|2026-03-11T08:00"}},
        {"reply": "Não consegui marcar esse horário."},
        {"tool": "list_my_appointments", "args": {}},
        {"reply": recorded_reply},
    ]
    path.write_text(yaml.safe_dump(script, allow_unicode=True), encoding="utf-8")
    return f"scripted:{path}"


def test_replay_with_another_model_shows_changed_replies_and_tool_calls(recorded, tmp_path):
    out = tmp_path / "t.jsonl"
    export(recorded, out, "--phone", ANA)
    (ana,) = lines(out)
    model = _script(tmp_path / "script.yaml", agent_turns(ana)[3]["reply"])
    report = tmp_path / "r.json"
    result = atende("replay", str(out), "--model", model, "--report", str(report), db=recorded)
    assert result.exit_code == 0, result.output
    turns = json.loads(report.read_text(encoding="utf-8"))["conversations"][0]["turns"]
    assert [t["status"] for t in turns] == ["changed", "changed", "diverged", "unchanged"]
    assert turns[0]["new"]["reply"] == "Olá! Como posso ajudar?" and turns[0]["reply_changed"]
    assert turns[0]["tool_calls"] == [{"change": "removed", "name": "update_lead",
                                       "recorded_args": {"name": "Maria"}, "new_args": None}]
    # same call up to case and a null argument: answered from the recording
    assert turns[1]["tool_calls"][0]["change"] == "same" and not turns[1]["not_recorded"]
    (book,) = turns[2]["tool_calls"]
    assert book["change"] == "args"
    assert book["new_args"] == {"slot_id": "ana-souza|limpeza|2026-03-11T08:00"}
    assert book["recorded_args"]["slot_id"] != book["new_args"]["slot_id"]
    assert turns[2]["not_recorded"] == [{"name": "book_appointment",
                                         "args": {"slot_id": "ana-souza|limpeza|2026-03-11T08:00"}}]
    assert turns[2]["new"]["tool_calls"][0]["ok"] is False
    screen = " ".join(result.output.split())
    assert "diverged" in screen and "! not recorded:" in screen
    assert "Tenho quarta às 08:00" in screen and "- update_lead" in screen
    html = tmp_path / "r.html"
    atende("replay", str(out), "--model", _script(tmp_path / "s2.yaml", "<b>oi</b>"),
           "--report", str(html), db=recorded)
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "&lt;b&gt;oi&lt;/b&gt;" in page and "<b>oi</b>" not in page


def test_an_unrecorded_call_is_a_tool_error_the_model_reads(recorded, tmp_path):
    out = tmp_path / "t.jsonl"
    export(recorded, out, "--phone", ANA)
    ((_, transcript),) = read_transcripts(out)
    model = ScriptedChatModel([
        call("book_appointment", slot_id="ana-souza|limpeza|2026-03-11T11:00"),
        "Não consegui.",
    ])
    replayer = Replayer(lambda tenant, now: ModelChain("scripted", model))
    only_first = transcript.model_copy(update={"turns": transcript.turns[:1]})
    (turn,) = asyncio.run(replayer.conversation(only_first, TENANT)).turns
    error = model.calls[1][-1]
    assert isinstance(error, ToolMessage) and error.status == "error"
    assert json.loads(error.content)["code"] == "not_recorded"
    assert turn.status == "diverged" and turn.new.tool_calls[0]["ok"] is False


def test_prompt_dir_renders_the_system_prompt_from_other_templates(recorded, tmp_path):
    out = tmp_path / "t.jsonl"
    export(recorded, out, "--phone", ANA)
    ((_, transcript),) = read_transcripts(out)
    folder = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts" / "base", folder)
    (folder / "15-marca.j2").write_text("MARCA-PROMPT-NOVO\n", encoding="utf-8")
    model = ScriptedChatModel(["Olá!"])
    replayer = Replayer(lambda tenant, now: ModelChain("scripted", model),
                        system_prompt=prompt_from_dir(folder))
    only_first = transcript.model_copy(update={"turns": transcript.turns[:1]})
    (turn,) = asyncio.run(replayer.conversation(only_first, TENANT)).turns
    system = model.calls[0][0]
    assert isinstance(system, SystemMessage) and "MARCA-PROMPT-NOVO" in system.content
    assert turn.new.prompt_version != turn.recorded.prompt_version


def test_malformed_input_exits_2_naming_the_file_and_line(recorded, tmp_path):
    out = tmp_path / "t.jsonl"
    export(recorded, out)
    good = out.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text(f"{good[0]}\n\n{good[1][:40]}\n", encoding="utf-8")
    result = atende("replay", str(broken), "--model", "offline")
    assert result.exit_code == 2
    assert f"{broken}:3" in " ".join(result.output.split()) and "malformed JSON line 3" in \
        " ".join(result.output.split())
    missing = tmp_path / "missing.jsonl"
    missing.write_text(good[0] + "\n" + json.dumps({"tenant": "clinica-exemplo"}) + "\n")
    result = atende("replay", str(missing), "--model", "offline")
    assert result.exit_code == 2 and f"{missing}:2" in result.output and "phone" in result.output
    assert atende("replay", str(out)).exit_code == 2  # --model is required to replay
    assert atende("replay", str(out), "--model", "nope").exit_code == 2
    bad_prompts = tmp_path / "prompts"
    bad_prompts.mkdir()
    (bad_prompts / "10-role.j2").write_text("Olá {{ clinica_inexistente }}\n", encoding="utf-8")
    result = atende("replay", str(out), "--model", "offline", "--prompt-dir", str(bad_prompts))
    assert result.exit_code == 2 and "10-role.j2" in result.output


def test_as_scenario_keeps_the_conversation_as_a_passing_regression_test(recorded, tmp_path):
    out = tmp_path / "t.jsonl"
    export(recorded, out)
    suite = tmp_path / "replayed.yaml"
    result = atende("replay", str(out), "--as-scenario", "-o", str(suite))
    assert result.exit_code == 0, result.output
    ana, bia = yaml.safe_load(suite.read_text(encoding="utf-8"))["scenarios"]
    assert [t["user"] for t in ana["turns"]][1:] == ANA_SAYS[1:]
    assert ana["now"] == "2026-03-10T08:00:00-03:00"
    phone = ana["patient"]["phone"]
    assert normalize_phone(phone) == phone and phone not in (ANA, BIA)
    assert phone == fake_e164(lines(out)[0]["phone"]) and phone.endswith("01")
    (booked,) = ana["expect"]["appointments"]
    assert booked["status"] == "booked" and booked["service"] == "limpeza"
    assert ana["expect"]["tools"]["must"][0]["name"] == "book_appointment"
    assert ana["expect"]["rules"] == ["no_false_confirmation", "prices_grounded"]
    assert bia["given"]["appointments"] == [{
        "patient": "self", "professional": "ana-souza", "service": "limpeza",
        "start": "2026-03-12T10:00-03:00", "status": "booked"}]
    assert bia["expect"]["appointments"][0]["status"] == "cancelled"
    assert bia["expect"]["tools"]["must"] == [{"name": "cancel_appointment", "ok": True}]
    lint = atende("eval", "lint", str(suite))
    assert lint.exit_code == 0, lint.output
    run = atende("eval", "run", str(suite), "--model", "offline")
    assert run.exit_code == 0, run.output
    assert "pass^1=1.00" in run.output


def test_pseudonyms_are_stable_and_leave_ids_dates_and_prices_alone():
    p = Pseudonymizer(KEY, keep=["+55 11 3333-4444"])
    forms = ["+5511987650001", "5511987650001", "(11) 98765-0001", "+55 11 98765-0001"]
    assert len({p.phone(f) for f in forms}) == 1
    text = ("slot ana-souza|limpeza|2026-03-11T08:30, id 3f2b1c4e-1111-2222-3333-444455556666, "
            "R$ 1.200,00, ligue +55 11 3333-4444 ou 3333-4444")
    assert p.text(text) == text
    assert Pseudonymizer("other").phone(ANA) != p.phone(ANA)
    assert fake_e164(p.phone(ANA)) == fake_e164(p.phone(ANA)) != ANA


async def test_webhook_path_turns_take_their_inbox_rows_whole_replies_and_skips(store):
    """The server path: a burst of two messages answered by one turn in two bubbles, a voice
    note, a message ignored while a person had the chat, a fixed reply to a sticker."""
    conversation = await store.get_or_create_conversation(TENANT.id, ANA, "zapi")
    at = TUESDAY_NOW

    async def inbound(n: int, text: str | None, kind: str = "text") -> str:
        message, _ = await store.inbox_add(TENANT.id, ANA, channel="zapi",
                                           provider_message_id=f"p{n}",
                                           provider_ts=at + timedelta(seconds=n), kind=kind,
                                           text=text)
        return message.id

    burst = [await inbound(1, "oi"), await inbound(2, "meu número novo é 11 98765-0001")]
    turn = await store.start_turn(conversation.id, TENANT.id, model="openai:gpt-4o-mini",
                                  prompt_version="v1")
    await store.finish_turn(turn.id, outcome="replied", tokens_in=900, tokens_out=40,
                            reply="Olá!\n\nAnotado.", tool_calls=[
                                {"name": "update_lead", "args": {"notes": "novo 11 98765-0001"},
                                 "ok": True, "result": {"ok": True, "turn_id": turn.id}}])
    await store.complete_turn(conversation.id, inbox_ids=burst, turn_id=turn.id,
                              replies=["Olá!", "Anotado."], meta={"model": "offline"})
    voice = await inbound(3, None, kind="audio")
    await store.annotate_message(voice, {"transcript": "quero marcar limpeza"})
    spoken = await store.start_turn(conversation.id, TENANT.id, model="offline",
                                    prompt_version="v1")
    await store.finish_turn(spoken.id, outcome="replied", reply="Para quando?")
    await store.complete_turn(conversation.id, inbox_ids=[voice], turn_id=spoken.id,
                              replies=["Para quando?"])
    await store.inbox_ignore([await inbound(4, "alô?")], reason="human_takeover")
    sticker = await inbound(5, None, kind="sticker")
    await store.complete_turn(conversation.id, inbox_ids=[sticker], turn_id=None,
                              replies=["Só leio textos e áudios."])
    messages = await store.list_messages(conversation.id)
    turns = await store.list_turns(conversation.id)

    from atende.evals.transcripts import transcript_of

    transcript = transcript_of(conversation, messages, turns, Pseudonymizer(KEY),
                               exported_at=at)
    first, second, ignored, sticker, auto = transcript.turns
    assert first.kind == "agent" and first.text.startswith("oi\nmeu número novo é +55…-")
    assert first.reply == "Olá!\n\nAnotado." and first.model == "offline"
    assert (first.tokens_in, first.prompt_version) == (900, "v1")
    assert "98765" not in json.dumps(first.tool_calls[0].args)
    assert first.tool_calls[0].result == {"ok": True}  # the store's turn id is not exported
    assert second.kind == "agent" and second.transcripts == ["quero marcar limpeza"]
    assert (ignored.kind, ignored.text, ignored.reason) == ("patient", "alô?", "human_takeover")
    assert (sticker.kind, sticker.type, sticker.reason) == ("patient", "sticker", "auto_reply")
    assert (auto.kind, auto.text) == ("auto", "Só leio textos e áudios.")


def test_a_voice_note_replays_as_heard_and_becomes_an_audio_turn(tmp_path):
    line = {"tenant": "clinica-exemplo", "phone": "+55…-abcdef-07", "turns": [{
        "kind": "agent", "at": "2026-03-10T11:00:00Z", "reply": "Para quando?",
        "patient": [{"at": "2026-03-10T11:00:00Z", "type": "audio",
                     "transcript": "quero marcar uma limpeza"}]}]}
    file = tmp_path / "voice.jsonl"
    file.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    ((_, transcript),) = read_transcripts(file)
    model = ScriptedChatModel(["Para quando?"])
    replayer = Replayer(lambda tenant, now: ModelChain("scripted", model))
    (turn,) = asyncio.run(replayer.conversation(transcript, TENANT)).turns
    assert model.calls[0][-1].content == "[áudio] quero marcar uma limpeza"
    assert turn.status == "unchanged"
    result = atende("replay", str(file), "--as-scenario")
    assert result.exit_code == 0, result.output
    (scenario,) = yaml.safe_load(result.stdout)["scenarios"]
    assert scenario["turns"] == [{"audio": {"transcript": "quero marcar uma limpeza"}}]
    assert scenario["patient"]["phone"].endswith("07")
