"""Encryption at rest of the providers' API keys: Fernet tokens under keys from the environment.

``ASSISTANT_ENCRYPTION_KEYS`` is a comma-separated list of Fernet keys, newest first: the first one
encrypts, all of them decrypt (``MultiFernet``). To rotate, put a new key in front, restart, and
run ``manage.py ai_rotate_keys``; once it reports every key re-encrypted, the old key can go.
Without the variable (development, tests) one key is derived from ``SECRET_KEY``; ``check
--deploy`` warns about it.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class KeyUnreadable(Exception):
    """The stored key was encrypted under a key no longer in ``ASSISTANT_ENCRYPTION_KEYS``."""


def _derived_key() -> bytes:
    digest = hashlib.sha256(b"pytake.assistant.api-keys:" + settings.SECRET_KEY.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def configured_keys() -> list[bytes]:
    keys = [key.strip().encode() for key in getattr(settings, "ASSISTANT_ENCRYPTION_KEYS", []) if key.strip()]
    return keys or [_derived_key()]


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in configured_keys()])


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise KeyUnreadable("the API key cannot be decrypted with the configured keys") from error


def rotate(token: str) -> str:
    """The same secret encrypted under the first (newest) key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise KeyUnreadable("the API key cannot be decrypted with the configured keys") from error
