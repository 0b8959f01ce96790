"""Webhook bodies off the wire: read while counting, inflate gzip within a cap, parse JSON safely.

Nothing here holds more than its cap in memory: the body is read chunk by chunk and refused (413)
as soon as Content-Length or the running count passes the wire cap; a gzip body is inflated
incrementally with `max_length`, and refused as soon as the inflated size passes the same cap,
so a few KiB of a decompression bomb are read before the answer. Both steps are bounded by the cap
(a few MiB), so running them on the event loop stalls it for milliseconds at most.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from fastapi import Request

from atende.server.http_errors import ApiError

GZIP_WBITS = 31  # 16 + 15: a gzip header and trailer, the largest window
MAX_JSON_DEPTH = 64  # provider payloads nest about 8 deep; deeper is not a provider


def too_large(cap: int, what: str = "body") -> ApiError:
    return ApiError(413, "body_too_large", f"The webhook {what} is larger than {cap // 1024} KiB.")


def declared_length(request: Request, cap: int) -> int | None:
    """The Content-Length header, refused (413) when over `cap` before a byte is read."""
    header = request.headers.get("content-length")
    if header is None:
        return None
    if not header.strip().isdigit():
        raise ApiError(400, "invalid_length", "Content-Length is not a number.")
    length = int(header)
    if length > cap:
        raise too_large(cap)
    return length


async def read_capped(request: Request, cap: int) -> bytes:
    """The raw body, at most `cap` bytes; 413 as soon as the declared or received size passes it."""
    declared_length(request, cap)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:  # a chunked body, or one that lies about its length
            raise too_large(cap)
    return bytes(body)


def is_gzip(request: Request) -> bool:
    return request.headers.get("content-encoding", "").strip().lower() == "gzip"


def inflate_capped(raw: bytes, cap: int) -> bytes:
    """The gzip body `raw` inflated, every member of it; 413 once the output passes `cap` (never
    inflated whole), 400 when it is not gzip or is cut short."""
    out = bytearray()
    data = raw
    while data:
        inflater = zlib.decompressobj(wbits=GZIP_WBITS)
        try:
            while True:
                # at most one byte past the cap: enough to know it is over, never the bomb itself
                chunk = inflater.decompress(data, cap + 1 - len(out))
                out += chunk
                if len(out) > cap:
                    raise too_large(cap, "inflated body")
                data = inflater.unconsumed_tail
                if inflater.eof or (not data and not chunk):
                    break
        except zlib.error:
            raise ApiError(400, "invalid_gzip", "The body says gzip but is not.") from None
        if not inflater.eof:
            raise ApiError(400, "invalid_gzip", "The gzip body is cut short.")
        data = inflater.unused_data.lstrip(b"\0")  # another member follows, or padding
    return bytes(out)


def json_object(raw: bytes) -> dict[str, Any]:
    """`raw` as a JSON object; 400 for anything else, nesting beyond `MAX_JSON_DEPTH` included."""
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_payload", "Expected a JSON object.")
    if _depth_over(payload, MAX_JSON_DEPTH):
        raise ApiError(400, "invalid_payload", f"The JSON nests deeper than {MAX_JSON_DEPTH} levels.")
    return payload


def _depth_over(value: Any, limit: int) -> bool:
    """Whether `value` nests deeper than `limit` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
