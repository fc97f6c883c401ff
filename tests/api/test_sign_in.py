"""Sign-in as OWASP's cheat sheets ask: argon2id with its parameters in the hash, old scrypt
hashes upgraded at the next sign-in, the same work for unknown users, throttling counted in the
database, expired sessions purged, device tokens rotated with a grace period."""

from __future__ import annotations

import base64
import hashlib
import secrets
import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from api.db.models import Device, RateHit, SessionToken, User
from api.ratelimit import client_address
from api.security import hash_password, needs_rehash, verify_password
from api.settings import Settings
from tests.api.world import PASSWORD, World

LOGIN = "/api/v1/auth/login"


def login(world: World, username: str, password: str, **headers: str) -> int:
    response = world.client.post(
        LOGIN, json={"username": username, "password": password}, headers=headers
    )
    return int(response.status_code)


def test_passwords_are_argon2id_with_their_parameters(production_hashing: None) -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong horse", stored)
    assert not needs_rehash(stored)
    assert not verify_password("x", "garbage") and needs_rehash("garbage")


def old_scrypt_hash(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def test_an_old_scrypt_hash_is_upgraded_at_sign_in(world: World, production_hashing: None) -> None:
    sessions = world.client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        user = session.scalar(select(User).where(User.username == "engineer"))
        user.password_hash = old_scrypt_hash(PASSWORD)
        session.commit()
    assert login(world, "engineer", "not it") == 401
    assert login(world, "engineer", PASSWORD) == 200
    with sessions() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "engineer"))
    assert stored.startswith("$argon2id$")
    assert login(world, "engineer", PASSWORD) == 200


def test_unknown_and_known_usernames_cost_the_same(world: World, production_hashing: None) -> None:
    sessions = world.client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as session:  # the world's users were made with the suite's cheap hasher
        user = session.scalar(select(User).where(User.username == "super_k1"))
        user.password_hash = hash_password(PASSWORD)
        session.commit()

    def timed(username: str) -> float:
        started = time.perf_counter()
        assert login(world, username, "wrong password") == 401
        return time.perf_counter() - started

    # interleaved, so a busy machine slows both alike (CI once saw 2.04× with them in turn)
    pairs = [(timed(f"nobody{i}"), timed("super_k1")) for i in range(5)]
    unknown = statistics.median(u for u, _ in pairs)
    known = statistics.median(k for _, k in pairs)
    # both verify an argon2id hash (~30-60 ms here); a missing dummy verify shows as 10× or more
    assert 1 / 3 < unknown / known < 3.0, (unknown, known)


def test_failures_per_username_are_throttled_with_retry_after(world: World) -> None:
    limit = world.settings.login_user_failures
    for _ in range(limit):
        assert login(world, "office_s1", "wrong") == 401
    response = world.client.post(LOGIN, json={"username": "office_s1", "password": PASSWORD})
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= world.settings.login_window_minutes * 60
    # another account from the same address still signs in; success clears its own failures
    assert login(world, "office_d1", PASSWORD) == 200
    sessions = world.client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as session:  # the window passes
        for row in session.scalars(select(RateHit)):
            passed = timedelta(minutes=world.settings.login_window_minutes + 1)
            row.at, row.until = row.at - passed, row.until - passed
        session.commit()
    assert login(world, "office_s1", PASSWORD) == 200


def test_failures_per_client_address_are_throttled(world: World) -> None:
    limit = world.settings.login_client_failures
    for i in range(limit):
        assert login(world, f"guess{i}", "wrong") == 401
    assert login(world, "super_k3", PASSWORD) == 429
    assert login(world, "nobody-new", "wrong") == 429


def test_sixty_failures_in_a_row_end_in_429(world: World) -> None:
    answers = [login(world, "root", f"guess {i}") for i in range(60)]
    assert answers[:10] == [401] * 10 and set(answers[10:]) == {429}
    assert login(world, "root", PASSWORD) == 429  # even the right password, until the window


def test_the_client_address_comes_from_a_trusted_proxy_only(world: World) -> None:
    class Peer:
        def __init__(self, host: str, forwarded: list[str]):
            self.client = type("Client", (), {"host": host})()
            self.headers = type("Headers", (), {"getlist": lambda _, name: forwarded})()

    plain = Settings(data_dir=world.settings.data_dir)
    behind = Settings(data_dir=world.settings.data_dir, trusted_proxies=["10.0.0.0/8"])
    spoof = ["6.6.6.6"]
    assert client_address(Peer("203.0.113.9", spoof), plain) == "203.0.113.9"  # type: ignore[arg-type]
    assert client_address(Peer("203.0.113.9", spoof), behind) == "203.0.113.9"  # type: ignore[arg-type]
    chain = ["6.6.6.6, 198.51.100.7", "10.1.2.3"]  # client-sent, then the balancer's own
    assert client_address(Peer("10.0.0.2", chain), behind) == "198.51.100.7"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an address"):
        Settings(trusted_proxies=["not-a-network"])


def test_expired_sessions_are_purged_at_sign_in(world: World) -> None:
    sessions = world.client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        for row in session.scalars(select(SessionToken)):
            row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        session.commit()
    assert world.get("/api/v1/auth/me", "admin").status_code == 401
    assert login(world, "root", PASSWORD) == 200
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SessionToken)) == 1


def test_changing_the_secret_key_ends_every_session(world: World) -> None:
    assert world.get("/api/v1/auth/me", "admin").status_code == 200
    world.settings.secret_key = type(world.settings.secret_key)("another-secret-" + "x" * 32)
    assert world.get("/api/v1/auth/me", "admin").status_code == 401


def test_a_device_token_rotates_with_a_grace_period(world: World) -> None:
    old = world.tokens["cam-ST1"]
    rotated = world.post("/api/v1/devices/cam-ST1/token", "admin")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["token"]
    assert new != old and rotated.json()["previous_valid_until"]
    for token in (old, new):
        response = world.client.get(
            "/api/v1/device/model", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code in (200, 404), response.text  # 404: no model yet
    sessions = world.client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        device = session.scalar(select(Device).where(Device.code == "cam-ST1"))
        device.previous_valid_until = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    expired = world.client.get("/api/v1/device/model", headers={"Authorization": f"Bearer {old}"})
    assert expired.status_code == 401
    assert world.post("/api/v1/devices/nope/token", "admin").status_code == 404
    assert world.post("/api/v1/devices/cam-ST1/token", "super_k1").status_code == 403


def test_the_pages_language_is_kept_with_the_account(world: World) -> None:
    """Chosen once, returned at every sign-in (any browser); only the two languages."""
    headers = world.auth("super_k1")
    assert world.get("/api/v1/auth/me", "super_k1").json()["language"] is None
    chosen = world.client.patch("/api/v1/auth/me", headers=headers, json={"language": "zh-CN"})
    assert chosen.status_code == 200 and chosen.json()["language"] == "zh-CN"
    session = world.client.post(
        "/api/v1/auth/login", json={"username": "super_k1", "password": PASSWORD}
    ).json()
    assert session["language"] == "zh-CN"
    bad = world.client.patch("/api/v1/auth/me", headers=headers, json={"language": "fr"})
    assert bad.status_code == 422
    cleared = world.client.patch("/api/v1/auth/me", headers=headers, json={"language": None})
    assert cleared.json()["language"] is None
