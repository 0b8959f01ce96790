"""Staff secrets: passwords hashed with scrypt (a per-user salt, parameters kept in the hash,
constant-time check) and random tokens stored only as their sha256 (API tokens, sessions)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_N, _R, _P = 2**15, 8, 1  # 32 MiB, ~0.1 s: OWASP's scrypt floor is N=2^17 with r=8 at p=1;
# N=2^15 with this cost keeps a login under a second on a small box; raise _N later, the
# parameters are kept in each hash so old hashes still check
_MAXMEM = 256 * 1024 * 1024
MIN_PASSWORD = 10
TOKEN_PREFIX = "atd_"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$key`, a fresh 16-byte salt each time."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` is the one `stored` was made from; with `stored` None (no such
    account) the same work is done and False returned, so timing tells nothing."""
    try:
        scheme, n, r, p, salt, key = (stored or "").split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        params = int(n), int(r), int(p)
        salt_bytes, expected = _unb64(salt), _unb64(key)
    except ValueError:
        params, salt_bytes, expected = (_N, _R, _P), b"0" * 16, b""
    given = hashlib.scrypt(password.encode(), salt=salt_bytes, n=params[0], r=params[1],
                           p=params[2], maxmem=_MAXMEM, dklen=32)
    return bool(expected) and hmac.compare_digest(given, expected)


def new_token() -> tuple[str, str]:
    """A random token (shown once) and the sha256 to store."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """The stored form of a token (high-entropy, so a plain sha256 is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()
