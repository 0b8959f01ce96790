"""Where media may be downloaded from: per-channel host allowlists, https, public addresses only.

A media URL comes from a webhook payload (Z-API) or from Graph's answer (Meta), and every redirect
hop names another; each is checked here before a request is made, so neither a credential nor a
request can be steered to a host the operator did not name, or into the server's own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpx

from atende.errors import ConfigError

Resolve = Callable[[str, int], Awaitable[list[str]]]
_DEFAULT_PORTS = {"https": 443, "http": 80}
_HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")


async def resolve_host(host: str, port: int) -> list[str]:
    """The host's addresses, from the event loop's resolver (a thread: the loop never blocks)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def public_address(value: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local,
    shared, reserved, multicast or unspecified), an IPv4-mapped IPv6 address judged as IPv4."""
    address = ipaddress.ip_address(value)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class _Rule:
    host: str  # an exact host, or with `wildcard` the domain whose subdomains match
    wildcard: bool = False
    origin: tuple[str, int] | None = None  # (scheme, port) of an exact origin entry

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if self.origin is not None:
            return (scheme, host, port) == (self.origin[0], self.host, self.origin[1])
        if (scheme, port) != ("https", 443):
            return False
        return host.endswith(f".{self.host}") if self.wildcard else host == self.host


def _rule(entry: str, field: str) -> _Rule:
    text = entry.strip().lower()
    if "://" in text:
        try:
            url = httpx.URL(text)
        except httpx.InvalidURL:
            url = httpx.URL()
        if (url.scheme not in _DEFAULT_PORTS or not url.host or url.userinfo
                or url.path not in ("", "/") or url.query or url.fragment):
            raise ConfigError(f"{entry!r} is not an origin like https://host or http://127.0.0.1:8081",
                              source="settings", field=field)
        return _Rule(url.host, origin=(url.scheme, url.port or _DEFAULT_PORTS[url.scheme]))
    wildcard = text.startswith("*.")
    host = text.removeprefix("*.")
    if not _HOSTNAME.fullmatch(host) or (wildcard and "." not in host):
        raise ConfigError(f"{entry!r} is not a host like lookaside.fbsbx.com or *.fbsbx.com",
                          source="settings", field=field)
    return _Rule(host, wildcard=wildcard)


class HostAllowlist:
    """The hosts one kind of media may come from.

    Entries: `lookaside.fbsbx.com` (that host) and `*.fbsbx.com` (its subdomains) are reached over
    https on port 443 only, and every address they resolve to must be public. An origin,
    `http://127.0.0.1:8081`, allows exactly that scheme, host and port and is trusted as
    configured (a local stand-in in tests; the configured Graph URL).
    """

    def __init__(self, entries: Iterable[str], *, field: str) -> None:
        self._rules = tuple(_rule(entry, field) for entry in entries)
        if not self._rules:
            raise ConfigError("no host is allowed: name at least one", source="settings", field=field)

    async def refusal(self, url: httpx.URL, resolve: Resolve) -> str | None:
        """Why a request to `url` must not be made, or None when it may.

        Raises OSError when the host's name does not resolve.
        """
        scheme, host = url.scheme, url.host
        port = url.port or _DEFAULT_PORTS.get(scheme, 0)
        rule = next((r for r in self._rules if r.matches(scheme, host, port)), None)
        if rule is None:
            return "not https" if scheme != "https" else "not an allowed host"
        if rule.origin is not None:
            return None
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            addresses = await resolve(host, port)
        if not addresses or not all(public_address(a.split("%", 1)[0]) for a in addresses):
            return "not a public address"
        return None
