"""Secrets at rest: device tokens stored as SHA-256, session tokens as HMAC-SHA-256 under the
service's secret key (changing the key ends every session), passwords as argon2id with its
parameters in the stored hash (OWASP's password storage cheat sheet: m=19 MiB, t=2, p=1).

Hashes from before argon2 (`scrypt$salt$digest`, N=2^14) still verify, and `needs_rehash` tells
the sign-in to store the password again as argon2id. Unknown usernames are verified against a
dummy hash, so a wrong username costs as long as a wrong password.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

DEVICE_PREFIX = "bwd_"
SESSION_PREFIX = "bws_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
PRODUCTION = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
HASHER = PRODUCTION  # the test suite swaps in a cheap one (tests/conftest.py)


def new_token(prefix: str) -> str:
    """A random bearer token; shown once, stored only as its hash."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """A device token's stored form."""
    return hashlib.sha256(token.encode()).hexdigest()


def session_hash(token: str, key: str) -> str:
    """A session token's stored form, keyed by the service's secret key."""
    return hmac.new(key.encode(), token.encode(), hashlib.sha256).hexdigest()


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True for a hash made with other parameters than today's (or by scrypt)."""
    if stored.startswith("scrypt$"):
        return True
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash(secrets.token_urlsafe(16))


def verify_unknown(password: str) -> bool:
    """The work of a verification, for a username that does not exist; always False."""
    verify_password(password, _dummy_hash(HASHER))
    return False


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        _, salt_b64, digest_b64 = stored.split("$")
        salt, want = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
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
