"""Tokens encrypted at rest: Fernet (AES-128-CBC with HMAC-SHA256) under `ATENDE_TOKEN_KEY`, and
the key the OAuth `state` is signed with, derived from it (one secret to keep, two uses apart)."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from atende.errors import ConfigError

KEY_HELP = ('generate one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"')


class TokenCipher:
    """Encrypts with the first key, decrypts with any (rotation: put the new key first)."""

    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ConfigError(f"ATENDE_TOKEN_KEY is empty; {KEY_HELP}")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])
        except (ValueError, TypeError):
            # never echo the value: it is the key
            raise ConfigError(f"ATENDE_TOKEN_KEY is not a Fernet key (32 url-safe base64 bytes); "
                              f"{KEY_HELP}") from None
        self.state_key = hmac.new(parts[0].encode(), b"atende google oauth state v1",
                                  hashlib.sha256).digest()

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """The token; ConfigError when no configured key opens it (the key was changed)."""
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except InvalidToken:
            raise ConfigError("a stored Google token cannot be decrypted with ATENDE_TOKEN_KEY "
                              "(was the key changed? keep the old one after the new, "
                              "comma-separated)") from None
