"""Downloading a message's media (voice notes first) from Z-API or Meta, within size limits.

Z-API: one GET of the file URL from the webhook (kept 30 days), without credentials, from the
configured storage hosts only. Meta: two GETs, both with the Bearer token: the configured Graph
`/{version}/{media-id}` gives a short-lived (~5 min) URL and its metadata, then that URL, on one
of Meta's hosts, gives the bytes; without the token Meta answers with an HTML page, not the file.
A URL the webhook itself carries is never fetched for Meta: the token goes to Graph and to the
hosts Graph's answer names, nowhere else. Redirects are followed by hand, each hop checked
(media_hosts.py). Bodies are streamed and abandoned past `max_bytes`: nothing unbounded is read.
"""

from __future__ import annotations

import json
import mimetypes
import posixpath
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from atende.errors import ConfigError, InfrastructureError
from atende.server.inbound import Channel, MediaRef
from atende.server.media_hosts import HostAllowlist, Resolve, resolve_host
from atende.server.senders import transient_status

MediaFailure = Literal[
    "too_large", "too_long", "expired", "http_error", "network", "no_source", "refused"
]
_METADATA_MAX_BYTES = 64 * 1024  # the JSON of GET /{media-id} is a few hundred bytes
_MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # digits in practice; never a path or a query
# Extensions speech-to-text APIs recognise (Whisper picks the decoder from the filename).
_EXTENSIONS = {
    "audio/ogg": ".ogg", "audio/opus": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a",
    "audio/aac": ".aac", "audio/amr": ".amr", "audio/wav": ".wav", "audio/webm": ".webm",
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "video/mp4": ".mp4",
    "application/pdf": ".pdf",
}  # fmt: skip


class MediaUnavailable(InfrastructureError):
    """The media could not be fetched; `reason` says why (a stable snake_case word).

    too_large / too_long: over the configured limits (declared or found while streaming);
    expired: the file or media id is gone (404/410, an HTML page instead of the file);
    http_error: any other HTTP failure (`status` set); network: no response at all;
    no_source: nothing we may fetch (no URL; for Meta, no media id);
    refused: the URL or a redirect leads outside the allowed hosts (`host` says which).
    """

    code = "media_unavailable"

    def __init__(self, message: str, *, reason: MediaFailure, status: int | None = None,
                 host: str | None = None) -> None:
        super().__init__(message)
        self.reason: MediaFailure = reason
        self.status = status
        # the host it failed on, when known (never the URL: Meta's is signed, Z-API's names the
        # instance); cut short, as the payload chose it
        self.host = host[:100] if host else None

    @property
    def retryable(self) -> bool:
        """Whether trying again later might work (network trouble, 429, 5xx)."""
        return self.reason == "network" or (
            self.reason == "http_error" and self.status is not None and transient_status(self.status)
        )

    def __repr__(self) -> str:
        return f"MediaUnavailable({str(self)!r}, reason={self.reason!r}, status={self.status!r})"


@dataclass(frozen=True)
class DownloadedMedia:
    data: bytes = field(repr=False)
    mime_type: str
    filename: str


class MediaFetcher:
    """Fetches media with the app's shared `httpx.AsyncClient` (owned by the caller).

    `meta_hosts` / `zapi_hosts` are the hosts each channel's downloads (and their redirects) may
    reach, as HostAllowlist entries; the Graph lookup goes to `graph_url` only. `resolve` looks
    up a host's addresses (tests pass a fake; the default asks the event loop's resolver).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        meta_hosts: Iterable[str],
        zapi_hosts: Iterable[str],
        graph_url: str = "https://graph.facebook.com",
        api_version: str = "v21.0",
        max_bytes: int = 16 * 1024 * 1024,
        max_seconds: int = 300,
        max_redirects: int = 3,
        resolve: Resolve = resolve_host,
    ) -> None:
        self._http = http
        self._graph = f"{graph_url.rstrip('/')}/{api_version.strip('/')}"
        graph = httpx.URL(graph_url)
        self._graph_host = HostAllowlist([f"{graph.scheme}://{graph.netloc.decode()}"],
                                         field="meta_graph_url")
        self._meta_hosts = HostAllowlist(meta_hosts, field="meta_media_hosts")
        self._zapi_hosts = HostAllowlist(zapi_hosts, field="zapi_media_hosts")
        self._resolve = resolve
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.max_redirects = max_redirects

    async def fetch(
        self, media: MediaRef, *, channel: Channel, access_token: str | None = None
    ) -> DownloadedMedia:
        """The media's bytes, MIME type and a filename with a matching extension.

        `access_token` is the tenant's Meta token (required for `channel="meta"`, unused for
        Z-API). Raises MediaUnavailable; a missing Meta token is a ConfigError.
        """
        self._check_declared(media.size_bytes, media.seconds)
        headers: dict[str, str] = {}
        mime_type = media.mime_type
        stem = media.media_id or "media"
        if channel == "meta":
            # Only Graph's answer for a media id is trusted: a URL in the webhook is whatever the
            # sender of a signed payload wrote, and it would get the clinic's token.
            if not media.media_id or not _MEDIA_ID.fullmatch(media.media_id):
                raise MediaUnavailable("Meta media without a usable media id is not fetched",
                                       reason="no_source")
            if not access_token:
                raise ConfigError(
                    "an access token is required to download Meta media",
                    source="Meta credentials",
                    field="access_token",
                )
            headers["Authorization"] = f"Bearer {access_token}"
            url, meta_mime = await self._lookup(media.media_id, headers)
            mime_type = meta_mime or mime_type
            allowed = self._meta_hosts
        elif media.url:
            url, allowed = media.url, self._zapi_hosts
        else:
            raise MediaUnavailable(f"no URL to fetch {channel} media from", reason="no_source")
        data, content_type = await self._download(url, headers, allowed)
        mime_type = mime_type or content_type or "application/octet-stream"
        return DownloadedMedia(
            data=data, mime_type=mime_type, filename=_filename(media.filename, url, stem, mime_type)
        )

    def _check_declared(self, size_bytes: int | None, seconds: int | None) -> None:
        if size_bytes is not None and size_bytes > self.max_bytes:
            raise MediaUnavailable(
                f"media is {size_bytes} bytes, over the {self.max_bytes} limit", reason="too_large"
            )
        if seconds is not None and seconds > self.max_seconds:
            raise MediaUnavailable(
                f"media lasts {seconds} s, over the {self.max_seconds} s limit", reason="too_long"
            )

    async def _lookup(self, media_id: str, headers: dict[str, str]) -> tuple[str, str | None]:
        """Meta step 1: the media id → (short-lived download URL, MIME type)."""
        lookup = f"{self._graph}/{media_id}"
        async with self._stream(lookup, headers, self._graph_host, "media id lookup") as response:
            status = response.status_code
            try:
                body = await _read_capped(response, _METADATA_MAX_BYTES, "media id lookup")
            except MediaUnavailable:
                body = b""  # not the small JSON we expect: judged by the status below
        info = _json_object(body)
        error = info["error"] if isinstance(info.get("error"), dict) else {}
        # An expired (7 days) or unknown media id: 404, or 400 with Graph code 100.
        if status in (404, 410) or (status == 400 and error.get("code") == 100):
            raise MediaUnavailable(
                f"Meta media id lookup: HTTP {status}, the media id is gone", reason="expired", status=status
            )
        if not 200 <= status < 300:
            raise MediaUnavailable(
                f"Meta media id lookup failed: HTTP {status}, code {error.get('code')}",
                reason="http_error",
                status=status,
            )
        url = info.get("url")
        if not isinstance(url, str) or not url:
            raise MediaUnavailable("Meta media id lookup returned no URL", reason="http_error", status=status)
        file_size = info.get("file_size")
        if isinstance(file_size, int):
            self._check_declared(file_size, None)
        mime_type = info.get("mime_type")
        return url, mime_type if isinstance(mime_type, str) and mime_type else None

    async def _download(self, url: str, headers: dict[str, str], allowed: HostAllowlist
                        ) -> tuple[bytes, str | None]:
        async with self._stream(url, headers, allowed, "download") as response:
            status = response.status_code
            content_type = response.headers.get("content-type", "").strip() or None
            html = (content_type or "").lower().startswith("text/html")
            if not transient_status(status) and (status in (404, 410) or html):
                raise MediaUnavailable(
                    f"media download: HTTP {status}{', an HTML page' if html else ''}: "
                    "the link expired or was refused",
                    reason="expired",
                    status=status,
                )
            if not 200 <= status < 300:
                raise MediaUnavailable(
                    f"media download failed: HTTP {status}", reason="http_error", status=status
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise MediaUnavailable(
                    f"media is {declared} bytes, over the {self.max_bytes} limit",
                    reason="too_large",
                    status=status,
                )
            return await _read_capped(response, self.max_bytes, "download"), content_type

    @asynccontextmanager
    async def _stream(self, url: str, headers: dict[str, str], allowed: HostAllowlist, what: str
                      ) -> AsyncIterator[httpx.Response]:
        """One streamed GET, its redirects followed by hand: every hop is checked against
        `allowed` before it is requested (so `headers` go nowhere else), at most
        `max_redirects` of them. A request that gets no response is MediaUnavailable("network").
        """
        target = _url(url, what)
        for _ in range(self.max_redirects + 1):
            await self._admit(target, allowed, what)
            try:
                async with self._http.stream("GET", target, headers=headers,
                                             follow_redirects=False) as response:
                    if not response.has_redirect_location:
                        yield response
                        return
                    location = response.headers["location"]
                    status = response.status_code
            except (httpx.RequestError, httpx.InvalidURL) as exc:
                # No URL in the message: Meta's carries a signed hash, Z-API's an instance path.
                raise MediaUnavailable(f"media {what}: {type(exc).__name__}", reason="network",
                                       host=target.host) from None
            target = _url(location, what, base=target)
        raise MediaUnavailable(f"media {what}: more than {self.max_redirects} redirects",
                               reason="http_error", status=status, host=target.host)

    async def _admit(self, url: httpx.URL, allowed: HostAllowlist, what: str) -> None:
        """Raise MediaUnavailable unless a request to `url` may be made."""
        try:
            why = await allowed.refusal(url, self._resolve)
        except OSError as exc:
            raise MediaUnavailable(f"media {what}: {url.host} does not resolve: {type(exc).__name__}",
                                   reason="network", host=url.host) from None
        if why is not None:
            raise MediaUnavailable(f"media {what}: {url.host or 'no host'} refused, {why}",
                                   reason="refused", host=url.host)


def _url(text: str, what: str, *, base: httpx.URL | None = None) -> httpx.URL:
    """`text` as an absolute URL (a redirect's Location may be relative to `base`)."""
    try:
        return base.join(text) if base is not None else httpx.URL(text)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise MediaUnavailable(f"media {what}: not a valid URL", reason="refused",
                               host=base.host if base else None) from None


async def _read_capped(response: httpx.Response, limit: int, what: str) -> bytes:
    """The (decoded) body, abandoning the download as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > limit:
            raise MediaUnavailable(
                f"{what}: body passed the {limit} byte limit", reason="too_large", status=response.status_code
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _filename(given: str | None, url: str, stem: str, mime_type: str) -> str:
    """The provider's filename, else the URL's last segment if it has an extension, else
    `{stem}{extension of mime_type}`."""
    for candidate in (given, posixpath.basename(urlsplit(url).path)):
        name = posixpath.basename((candidate or "").replace("\\", "/")).strip()
        if name and posixpath.splitext(name)[1] and name not in {".", ".."}:
            return name
    base = mime_type.split(";")[0].strip().lower()
    return stem + (_EXTENSIONS.get(base) or mimetypes.guess_extension(base) or ".bin")
