"""Clinic configuration in the database as a deployment uses it: the quickstart's YAML imported
at start-up, which of file and database wins, a change seen by a running registry, and the
`atende tenants` / `atende staff` commands as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import yaml
from server_harness import make_tenants_dir

from atende.memory import open_store
from atende.tenant import load_tenant_file
from atende.tenant_db import TenantWatcher, document, load_registry, save

ROOT = Path(__file__).resolve().parent.parent
TENANT = "clinica-exemplo"


def reprice(folder: Path, price: float) -> Path:
    path = folder / f"{TENANT}.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data["services"][0]["price"] = price
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return path


async def test_startup_imports_a_new_clinic_and_a_changed_file_until_someone_edits_the_db(
        tmp_path) -> None:
    folder = make_tenants_dir(tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'atende.db'}")
    await store.setup()
    first = await load_registry(store, folder)
    again = await load_registry(store, folder)  # a restart, nothing changed
    reprice(folder, 150)
    edited = await load_registry(store, folder)  # the file changed: the file still wins
    clinic = edited.get(TENANT)
    await save(store, clinic.model_copy(update={"name": "Nome pela API"}), author="staff:a@b.co")
    reprice(folder, 175)
    after_api = await load_registry(store, folder)  # someone changed it since: the db wins
    history = await store.config_history(TENANT)
    await store.close()
    assert first.version(TENANT) == again.version(TENANT) == 1
    assert edited.version(TENANT) == 2 and clinic.services[0].price == 150
    assert after_api.version(TENANT) == 3
    assert after_api.get(TENANT).name == "Nome pela API"
    assert after_api.get(TENANT).services[0].price == 150
    assert [c.author for c in history] == ["staff:a@b.co", "file:clinica-exemplo.yaml",
                                           "file:clinica-exemplo.yaml"]


async def test_a_running_registry_picks_up_a_new_version_and_skips_a_broken_one(tmp_path) -> None:
    folder = make_tenants_dir(tmp_path)
    url = f"sqlite:///{tmp_path / 'atende.db'}"
    store, other = open_store(url), open_store(url)  # two processes' stores
    await store.setup()
    registry = await load_registry(store, folder)
    watcher = TenantWatcher(store, registry)
    held = registry  # what ConversationTurns, ReminderRunner ... hold
    assert await watcher.refresh() == []
    clinic = load_tenant_file(folder / f"{TENANT}.yaml")
    priced = [s.model_copy(update={"price": Decimal(99)}) if s.id == "avaliacao" else s
              for s in clinic.services]
    await save(other, clinic.model_copy(update={"services": priced}), author="cli:x")
    assert await watcher.refresh() == [TENANT]
    assert held.get(TENANT).service("avaliacao").price == 99 and held.version(TENANT) == 2
    broken = {**document(clinic), "timezone": "Nowhere/Else"}  # written by some older code
    await other.config_put(TENANT, broken, author="old")
    assert await watcher.refresh() == []
    assert held.version(TENANT) == 2 and held.get(TENANT).service("avaliacao").price == 99
    await store.close()
    await other.close()


def atende(*args: str, db: Path, tenants: Path, password: str | None = None
           ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ATENDE_"))}
    env.update({"ATENDE_DATABASE_URL": f"sqlite:///{db}", "ATENDE_TENANTS_DIR": str(tenants),
                "COLUMNS": "200"})
    if password is not None:
        env["ATENDE_STAFF_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "atende.cli", *args], text=True,
                          capture_output=True, cwd=ROOT, env=env, timeout=120)


def test_tenants_commands_round_trip_diff_and_roll_back(tmp_path) -> None:
    folder, db = make_tenants_dir(tmp_path), tmp_path / "atende.db"
    run = lambda *a: atende(*a, db=db, tenants=folder)  # noqa: E731
    assert "version 1 (new)" in run("tenants", "import", str(folder)).stdout
    exported = tmp_path / "exported.yaml"
    assert run("tenants", "export", TENANT, "-o", str(exported)).returncode == 0
    assert "unchanged (version 1)" in run("tenants", "import", str(exported)).stdout
    data = yaml.safe_load(exported.read_text("utf-8"))
    assert data["business_hours"]["mon"] == ["08:00-18:00"]  # written as people write it
    data["services"][0]["price"] = 135
    exported.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    assert "version 2 (new)" in run("tenants", "import", str(exported), "--note", "reajuste").stdout
    diff = run("tenants", "diff", TENANT, "1", "2").stdout
    assert "-  price: 120.0\n+  price: 135.0\n" in diff
    assert "version 3 (= version 1)" in run("tenants", "rollback", TENANT, "1").stdout
    history = run("tenants", "history", TENANT).stdout
    assert "3 (in force)" in history and "rollback to v1" in history and "reajuste" in history
    assert run("tenants", "export", TENANT).stdout == run("tenants", "export", TENANT,
                                                          "--version", "1").stdout
    data["services"][0]["price"] = "caro"
    exported.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    bad = run("tenants", "import", str(exported))
    assert bad.returncode == 2 and "exported.yaml: services[0].price" in bad.stderr
    missing = run("tenants", "diff", TENANT, "1", "9")
    assert missing.returncode == 2 and "no version 9" in missing.stderr
    assert "4" not in run("tenants", "history", TENANT).stdout.split("(in force)")[0]


def test_staff_commands(tmp_path) -> None:
    folder, db = make_tenants_dir(tmp_path), tmp_path / "atende.db"
    run = lambda *a, pw=None: atende(*a, db=db, tenants=folder, password=pw)  # noqa: E731
    added = run("staff", "add", TENANT, "Dona@Clinica.com", "--name", "Dona", "--role", "owner",
                pw="uma-senha-longa")
    assert added.returncode == 0, added.stderr
    short = run("staff", "add", TENANT, "x@clinica.com", "--name", "X", pw="curta")
    unknown = run("staff", "add", "nao-existe", "y@clinica.com", "--name", "Y", pw="uma-senha-longa")
    assert short.returncode == 2 and "10 characters" in short.stderr
    assert unknown.returncode == 2 and "nao-existe" in unknown.stderr
    created = run("staff", "token-create", TENANT, "dona@clinica.com", "--name", "n8n")
    token = created.stdout.strip()
    assert token.startswith("atd_") and token not in created.stderr
    listed = run("staff", "list", TENANT).stdout
    assert "dona@clinica.com" in listed and "n8n (never)" in listed and token not in listed
    token_id = created.stderr.split()[1]
    assert run("staff", "token-revoke", TENANT, token_id[:8]).returncode == 0
    assert "n8n" not in run("staff", "list", TENANT).stdout
    assert run("staff", "token-revoke", TENANT, token_id).returncode == 2
    reset = run("staff", "reset-password", TENANT, "dona@clinica.com", pw="outra-senha-longa")
    assert reset.returncode == 0
    assert run("staff", "reset-password", TENANT, "ninguem@clinica.com",
               pw="outra-senha-longa").returncode == 2
