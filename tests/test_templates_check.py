"""`atende templates check`: the clinic's configured templates against the ones Meta returns
(a recorded exchange, two pages), with the token only in the Authorization header."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner
from vcr_config import make_vcr

from atende.cli import app

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "EAAGtemplatesTokenSECRET"


def clinic(tmp_path: Path, waitlist_template: str) -> Path:
    data = yaml.safe_load((ROOT / "tenants/clinica-exemplo.yaml").read_text(encoding="utf-8"))
    data["reminders"]["waitlist"]["meta_template"] = {"name": waitlist_template,
                                                      "language": "pt_BR", "body": ["service"],
                                                      "buttons": []}
    (tmp_path / "clinica-exemplo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                                   encoding="utf-8")
    return tmp_path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    return {"CLINICA_EXEMPLO_META_ACCESS_TOKEN": TOKEN, "CLINICA_EXEMPLO_META_APP_SECRET": "s",
            "CLINICA_EXEMPLO_META_VERIFY_TOKEN": "v", "ATENDE_META_GRAPH_URL": "https://graph.facebook.com",
            "ATENDE_META_API_VERSION": "v21.0"}


def run(folder: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch | None = None
        ):  # type: ignore[no-untyped-def]
    vcr = make_vcr(match_on=["method", "scheme", "host", "port", "path", "query"])
    with vcr.use_cassette("meta_message_templates.yaml") as cassette:
        result = CliRunner().invoke(app, ["templates", "check", "--tenant", "clinica-exemplo"],
                                    env={**env, "ATENDE_TENANTS_DIR": str(folder)})
    return result, cassette


def test_a_paused_template_fails_the_check_and_names_it(tmp_path: Path, env: dict[str, str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[httpx.Request] = []
    original = httpx.AsyncClient.send

    async def remember(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> Any:
        sent.append(request)
        return await original(self, request, **kw)

    monkeypatch.setattr(httpx.AsyncClient, "send", remember)
    result, cassette = run(clinic(tmp_path, "vaga_lista_espera"), env)
    assert result.exit_code == 1, result.output
    assert "lembrete_consulta" in result.output and "APPROVED" in result.output
    assert "vaga_lista_espera" in result.output and "PAUSED" in result.output
    assert cassette.play_count == 2  # the second page by its cursor
    assert [r.url.host for r in sent] == ["graph.facebook.com"] * 2
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in sent)
    assert all(TOKEN not in str(r.url) for r in sent)
    assert TOKEN not in result.output


def test_a_template_meta_does_not_have_is_missing(tmp_path: Path, env: dict[str, str]) -> None:
    result, _ = run(clinic(tmp_path, "nao_existe"), env)
    assert result.exit_code == 1
    assert "MISSING" in result.output


def test_without_the_account_id_the_check_says_which_field(tmp_path: Path, env: dict[str, str]) -> None:
    data = yaml.safe_load((ROOT / "tenants/clinica-exemplo.yaml").read_text(encoding="utf-8"))
    del data["channels"]["meta"]["waba_id"]
    (tmp_path / "clinica-exemplo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                                   encoding="utf-8")
    result = CliRunner().invoke(app, ["templates", "check", "--tenant", "clinica-exemplo"],
                                env={**env, "ATENDE_TENANTS_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "channels.meta.waba_id" in result.output
