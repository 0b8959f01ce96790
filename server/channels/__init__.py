"""Messaging channels, one folder each (webhook parsing and verification, media, sender) behind
the `Channel` protocol of `base.py`; a new channel is a folder plus one line in `CHANNELS`."""

from __future__ import annotations

from typing import Any

from atende.server.channels.base import Channel
from atende.server.channels.console.channel import ConsoleChannel
from atende.server.channels.meta.channel import MetaChannel
from atende.server.channels.zapi.channel import ZapiChannel

CHANNELS: dict[str, Channel[Any, Any]] = {
    "zapi": ZapiChannel(),
    "meta": MetaChannel(),
    "console": ConsoleChannel(),
}
