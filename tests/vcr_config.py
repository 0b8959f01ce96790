"""Shared cassette and offline helpers for tests: a scrubbing `vcr.VCR` over `tests/cassettes/`
and a network blocker. The scrubbing itself lives in `atende.evals.cassettes` (the eval runner
records with it too).

Use `make_vcr().use_cassette("name.yaml")` to replay `tests/cassettes/name.yaml`; the default
record_mode "none" means an unmatched request fails instead of reaching the network. To record
a new cassette on purpose, pass `record_mode="once"` and review the file before committing;
`test_cassettes_clean.py` fails on keys, bearer tokens or phone numbers left in any cassette.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import vcr

from atende.evals import cassettes
from atende.evals.cassettes import (
    DROP_RESPONSE_HEADERS,
    FILTER_HEADERS,
    LEAK_PATTERNS,
    PHONE_RE,
    PhoneScrubber,
    find_leaks,
)

__all__ = ["CASSETTES_DIR", "DROP_RESPONSE_HEADERS", "FILTER_HEADERS", "LEAK_PATTERNS", "PHONE_RE",
           "PhoneScrubber", "block_network", "find_leaks", "make_vcr"]

CASSETTES_DIR = Path(__file__).with_name("cassettes")


def make_vcr(**overrides: Any) -> vcr.VCR:
    """A VCR that replays `tests/cassettes/*.yaml`, never records unless told, and scrubs."""
    library = overrides.pop("cassette_library_dir", CASSETTES_DIR)
    return cassettes.make_vcr(library, **overrides)


def block_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Make every DNS lookup and socket connect fail; returns the addresses attempted.

    Call it from a fixture. Anything that still succeeds afterwards did not use the network.
    """
    return cassettes.block_network_with(monkeypatch.setattr)
