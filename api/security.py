"""Secrets at rest: device and session tokens stored as SHA-256, passwords as scrypt."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from uuid import UUID

DEVICE_PREFIX = "bwd_"
SESSION_PREFIX = "bws_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def new_token(prefix: str) -> str:
    """A random bearer token; shown once, stored only as its hash."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        salt, want = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return hmac.compare_digest(got, want)


def appeal_code(event_id: UUID) -> str:
    """The code printed on a household's feedback slip: the first 48 random bits of the event
    id, in three groups (`3f2a-91c0-7b4e`). A device can print it without any secret."""
    digits = event_id.hex[:12]
    return f"{digits[:4]}-{digits[4:8]}-{digits[8:]}"


def normalise_appeal_code(code: str) -> str | None:
    digits = code.strip().lower().replace("-", "").replace(" ", "")
    if len(digits) != 12 or any(c not in "0123456789abcdef" for c in digits):
        return None
    return digits
