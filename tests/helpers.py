"""Shared test helpers: the example clinic, a frozen clock, atende opened on a temp file, and a
fake DNS for the media host checks."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from atende.agent.context import ModelChain
from atende.agent.runtime import Atende, open_atende
from atende.agent.turn import TurnResult
from atende.clock import FrozenClock
from atende.server.channels.console.session import ConsoleSession
from atende.settings import Settings
from atende.tenant import Tenant, load_tenant_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "tenants" / "clinica-exemplo.yaml"
# Tuesday 10 March 2026, 08:00 in São Paulo: a normal working day, no holiday near.
MONDAY_NOW = datetime.fromisoformat("2026-03-09T08:00-03:00")
TUESDAY_NOW = datetime.fromisoformat("2026-03-10T08:00-03:00")
ANA = "+5511987650001"
BIA = "+5511987650002"


def example_tenant() -> Tenant:
    return load_tenant_file(EXAMPLE)


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'atende.db'}",
                    tenants_dir=ROOT / "tenants", _env_file=None, **overrides)


class SwitchableModel:
    """A model factory whose chain a test can swap between turns."""

    def __init__(self, chain: ModelChain | None = None):
        self.chain = chain

    def __call__(self, tenant: Tenant, now: datetime) -> ModelChain:
        if self.chain is None:
            from atende.agent.models.offline import OfflineChatModel

            return ModelChain("offline", OfflineChatModel(tenant=tenant, now=now))
        return self.chain


@asynccontextmanager
async def atende_on(tmp_path: Path, *, model: Any = None, now: datetime = TUESDAY_NOW,
                    transcriber: Any = None) -> AsyncIterator[Atende]:
    async with open_atende(settings_for(tmp_path), model=model or SwitchableModel(),
                           clock=FrozenClock(now), transcriber=transcriber) as app:
        yield app


async def say(app: Atende, text: str | None, *, phone: str = ANA, tenant: Tenant | None = None,
              audio: Any = ()) -> TurnResult:
    """One patient message on the console channel: inbox, turn, outbox, as WhatsApp's goes."""
    answer = await ConsoleSession(app, tenant or example_tenant()).say(phone, text, audio)
    assert answer.result is not None
    return answer.result


# The names media downloads resolve, on the addresses a test wants: Meta's and Backblaze's on
# public ones, two storage names gone rogue. Anything else does not resolve.
DNS = {
    "lookaside.fbsbx.com": ["157.240.12.21", "2a03:2880:f20c:c8:face:b00c:0:167"],
    "mmg.whatsapp.net": ["157.240.12.60"],
    "f004.backblazeb2.com": ["149.137.136.17"],
    "f005.backblazeb2.com": ["149.137.140.26"],
    "internal.backblazeb2.com": ["149.137.140.1", "10.0.0.7"],
    "metadata.backblazeb2.com": ["::ffff:169.254.169.254"],
}


async def fake_dns(host: str, port: int) -> list[str]:
    """A `Resolve` over DNS: never the network."""
    if host not in DNS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return DNS[host]
