"""Sign-in, the signed-in user, and user accounts (admin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy import delete, select

from api import ratelimit
from api.db.models import Place, Role, SessionToken, User, UserScope
from api.deps import Admin, AnyUser, Credentials, SessionDep, SettingsDep
from api.schemas import LoginRequest, SessionPublic, UserCreate, UserPreferences, UserPublic
from api.security import (
    SESSION_PREFIX,
    hash_password,
    needs_rehash,
    new_token,
    session_hash,
    verify_password,
    verify_unknown,
)
from api.users import create_user

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/login",
    response_model=SessionPublic,
    responses={429: {"description": "too many failed sign-ins; see Retry-After"}},
)
def login(
    body: LoginRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> SessionPublic:
    """A session token. An unknown username costs as long as a wrong password; after too many
    failures for a username or from a client address, 429 until the window passes."""
    now, window = datetime.now(UTC), timedelta(minutes=settings.login_window_minutes)
    client = ratelimit.client_key(request, settings)
    buckets = [
        (f"login-user:{body.username}", settings.login_user_failures),
        (f"login-client:{client}", settings.login_client_failures),
    ]
    ratelimit.refuse_if_over(session, buckets, now, "failed sign-ins", window)
    user = session.scalar(select(User).where(User.username == body.username))
    if user is None:
        good = verify_unknown(body.password)
    else:
        good = verify_password(body.password, user.password_hash) and user.active
    if user is None or not good:
        ratelimit.hit(session, [bucket for bucket, _ in buckets], now, window)
        session.commit()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    if needs_rehash(user.password_hash):  # an older hash: stored again as argon2id
        user.password_hash = hash_password(body.password)
    ratelimit.clear(session, f"login-user:{user.username}")
    session.execute(delete(SessionToken).where(SessionToken.expires_at < now))
    token = new_token(SESSION_PREFIX)
    expires = now + timedelta(hours=settings.session_hours)
    key = settings.secret_key.get_secret_value()
    session.add(
        SessionToken(token_hash=session_hash(token, key), user_id=user.id, expires_at=expires)
    )
    session.commit()
    return SessionPublic(
        token=token,
        expires_at=expires,
        role=Role(user.role),
        username=user.username,
        language=user.language,
    )


@router.post("/auth/logout", status_code=204)
def logout(
    caller: AnyUser, session: SessionDep, settings: SettingsDep, credentials: Credentials
) -> None:
    assert credentials is not None
    stored = session_hash(credentials.credentials, settings.secret_key.get_secret_value())
    session.execute(delete(SessionToken).where(SessionToken.token_hash == stored))
    session.commit()


def _public(session: SessionDep, user: User) -> UserPublic:
    scope = list(
        session.scalars(
            select(Place.code)
            .join(UserScope, UserScope.place_id == Place.id)
            .where(UserScope.user_id == user.id)
            .order_by(Place.code)
        )
    )
    return UserPublic(
        username=user.username,
        role=Role(user.role),
        scope=scope,
        active=user.active,
        language=user.language,
    )


@router.get("/auth/me", response_model=UserPublic)
def me(caller: AnyUser, session: SessionDep) -> UserPublic:
    return _public(session, caller.user)


@router.patch("/auth/me", response_model=UserPublic)
def set_preferences(body: UserPreferences, caller: AnyUser, session: SessionDep) -> UserPublic:
    """The signed-in user's own choices (the pages' language), kept with the account so every
    browser they sign in from uses it."""
    user = session.get(User, caller.user.id)
    assert user is not None
    user.language = body.language
    session.commit()
    return _public(session, user)


@router.post("/users", response_model=UserPublic, status_code=201)
def add_user(body: UserCreate, caller: Admin, session: SessionDep) -> UserPublic:
    try:
        user = create_user(session, body)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.commit()
    return _public(session, user)


@router.get("/users", response_model=list[UserPublic])
def list_users(caller: Admin, session: SessionDep) -> list[UserPublic]:
    return [_public(session, u) for u in session.scalars(select(User).order_by(User.username))]
