"""`atende chat` as a user runs it: piped stdin, --json, a real SQLite file; `atende tenants`."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-03-10T08:00-03:00"  # a Tuesday: "amanhã" is Wednesday 11/03


def atende(*args: str, stdin: str = "", db: Path, extra_env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ATENDE_"))}
    env.update({"ATENDE_DATABASE_URL": f"sqlite:///{db}", **(extra_env or {})})
    return subprocess.run([sys.executable, "-m", "atende.cli", *args], input=stdin, text=True,
                          capture_output=True, cwd=ROOT, env=env, timeout=120)


def turns(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.slow
def test_quickstart_books_a_real_row_and_a_second_patient_cannot_take_it(tmp_path):
    db = tmp_path / "atende.db"
    first = atende("chat", "--tenant", "clinica-exemplo", "--now", NOW, "--json", db=db,
                   stdin="Oi, quero marcar uma limpeza amanhã de manhã\na primeira\n")
    assert first.returncode == 0, first.stderr
    assert "offline model" in first.stderr  # no key: says so in one line
    offer, booked = turns(first.stdout)
    assert offer["user"] == "Oi, quero marcar uma limpeza amanhã de manhã"
    assert [c["name"] for c in offer["tool_calls"]] == ["check_availability"]
    assert offer["tool_calls"][0]["ok"] and re.search(r"^1[.)] ", offer["reply"], re.M)
    assert [(c["name"], c["ok"]) for c in booked["tool_calls"]] == [("book_appointment", True)]
    assert "agendad" in booked["reply"].lower()

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT patient_phone, professional_id, service_id, start_utc, status "
                            "FROM appointments").fetchall()
    assert len(rows) == 1
    _phone, professional, service, start_utc, status = rows[0]
    assert (service, status) == ("limpeza", "booked")
    assert start_utc.startswith("2026-03-11 ")  # Wednesday, stored in UTC
    assert int(start_utc[11:13]) - 3 < 12  # morning in São Paulo
    slot_id = booked["tool_calls"][0]["args"]["slot_id"]

    second = atende("chat", "--phone", "+55 11 98765-0002", "--now", NOW, "--json", db=db,
                    stdin="Quero marcar uma limpeza amanhã de manhã\n")
    (offer2,) = turns(second.stdout)
    offered = [line for line in offer2["reply"].splitlines() if re.match(r"\d+[.)] ", line)]
    assert offered, offer2["reply"]
    pro_name = {"ana-souza": "Ana", "carla-mendes": "Carla"}[professional]
    time_text = slot_id.rsplit("T", 1)[1]
    assert not [line for line in offered if time_text in line and pro_name in line]


def test_json_mode_prints_one_object_per_turn(tmp_path):
    result = atende("chat", "--now", NOW, "--json", db=tmp_path / "a.db",
                    stdin="Oi\n\nQuanto custa a limpeza?\nquais as promoções?\n")
    assert result.returncode == 0, result.stderr
    objects = turns(result.stdout)
    assert [o["user"] for o in objects] == ["Oi", "Quanto custa a limpeza?", "quais as promoções?"]
    assert all(set(o) == {"user", "reply", "tool_calls"} for o in objects)
    assert "R$ 180,00" in objects[1]["reply"]
    assert all(set(c) == {"name", "args", "ok"} for o in objects for c in o["tool_calls"])


def test_plain_piped_mode_prints_a_reply_block_per_turn(tmp_path):
    result = atende("chat", "--now", NOW, db=tmp_path / "a.db", stdin="Oi\nobrigado\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("atende:") == 2
    assert "Traceback" not in result.stderr


def test_bad_flags_get_a_clear_error(tmp_path):
    bad_now = atende("chat", "--now", "amanhã", db=tmp_path / "a.db")
    assert bad_now.returncode == 2 and "--now" in bad_now.stderr
    bad_tenant = atende("chat", "--tenant", "nao-existe", db=tmp_path / "a.db")
    assert bad_tenant.returncode == 2 and "unknown tenant 'nao-existe'" in bad_tenant.stderr
    bad_model = atende("chat", "--model", "gpt9", db=tmp_path / "a.db", stdin="oi\n")
    assert bad_model.returncode == 2 and "unknown model" in bad_model.stderr
    for result in (bad_now, bad_tenant, bad_model):
        assert "Traceback" not in result.stderr


def test_tenants_check_names_file_and_field(tmp_path):
    broken = tmp_path / "quebrada.yaml"
    text = (ROOT / "tenants" / "clinica-exemplo.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("price: 180.00", "price: cento e oitenta"), encoding="utf-8")
    ok = atende("tenants", "check", db=tmp_path / "a.db")
    assert ok.returncode == 0 and "clinica-exemplo.yaml" in ok.stdout
    bad = atende("tenants", "check", str(broken), db=tmp_path / "a.db")
    assert bad.returncode == 1
    assert f"{broken}: services[1].price" in bad.stderr.replace("\n", "")


def test_handoff_pauses_the_bot_and_conversations_resume_gives_it_back(tmp_path):
    db = tmp_path / "a.db"
    first = atende("chat", "--now", NOW, "--json", db=db,
                   stdin="quero falar com um atendente\nalô?\n")
    handoff, quiet = turns(first.stdout)
    assert [c["name"] for c in handoff["tool_calls"]] == ["request_human"]
    assert quiet["reply"] is None  # a person has the conversation now
    resumed = atende("conversations", "resume", "--tenant", "clinica-exemplo",
                     "--phone", "+55 11 98765-0001", db=db)
    assert resumed.returncode == 0, resumed.stderr
    assert "active" in resumed.stdout
    (back,) = turns(atende("chat", "--now", NOW, "--json", db=db, stdin="oi\n").stdout)
    assert back["reply"]
    unknown = atende("conversations", "resume", "--tenant", "clinica-exemplo",
                     "--phone", "+55 11 98765-9999", db=db)
    assert unknown.returncode == 2 and "no conversation" in unknown.stderr


def test_db_migrate_check_and_purge_on_sqlite(tmp_path):
    db = tmp_path / "a.db"
    first = atende("chat", "--json", db=db, stdin="Oi, meu nome é Maria\n")
    assert first.returncode == 0, first.stderr
    migrated = atende("db", "migrate", db=db)
    assert migrated.returncode == 0 and "nothing pending" in migrated.stdout
    checked = atende("db", "check", db=db)
    assert checked.returncode == 0 and '"ok": true' in checked.stdout
    bad = atende("db", "purge", "--older-than", "ontem", db=db)
    assert bad.returncode == 2 and "--older-than" in bad.stderr
    kept = atende("db", "purge", db=db)  # default retention: 180 days, nothing that old
    assert "0 message bodies blanked" in kept.stdout
    purged = atende("db", "purge", "--older-than", "0d", db=db)
    assert purged.returncode == 0 and "clinica-exemplo: 2 message bodies blanked" in purged.stdout
    with sqlite3.connect(db) as conn:
        texts = [t for (t,) in conn.execute("SELECT text FROM messages")]
        names = [n for (n,) in conn.execute("SELECT name FROM patients")]
    assert texts == [None, None] and names == ["Maria"]  # the lead record stays
