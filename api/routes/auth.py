"""Sign-in, the signed-in user, and user accounts (admin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import delete, select

from api.db.models import Place, Role, SessionToken, User, UserScope
from api.deps import Admin, AnyUser, Credentials, SessionDep, SettingsDep
from api.schemas import LoginRequest, SessionPublic, UserCreate, UserPublic
from api.security import (
    SESSION_PREFIX,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)

router = APIRouter(tags=["auth"])
SCOPED = {Role.OFFICE: ("district", "street"), Role.SUPERVISOR: ("community", "compound")}


@router.post("/auth/login", response_model=SessionPublic)
def login(body: LoginRequest, session: SessionDep, settings: SettingsDep) -> SessionPublic:
    user = session.scalar(select(User).where(User.username == body.username))
    if user is None or not user.active or not verify_password(body.password, user.password_hash):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    token = new_token(SESSION_PREFIX)
    expires = datetime.now(UTC) + timedelta(hours=settings.session_hours)
    session.add(SessionToken(token_hash=token_hash(token), user_id=user.id, expires_at=expires))
    session.commit()
    return SessionPublic(
        token=token, expires_at=expires, role=Role(user.role), username=user.username
    )


@router.post("/auth/logout", status_code=204)
def logout(caller: AnyUser, session: SessionDep, credentials: Credentials) -> None:
    assert credentials is not None
    session.execute(
        delete(SessionToken).where(SessionToken.token_hash == token_hash(credentials.credentials))
    )
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
    return UserPublic(username=user.username, role=Role(user.role), scope=scope, active=user.active)


@router.get("/auth/me", response_model=UserPublic)
def me(caller: AnyUser, session: SessionDep) -> UserPublic:
    return _public(session, caller.user)


def create_user(session: SessionDep, body: UserCreate) -> User:
    """Shared by the route and `binwatch users create`; the caller commits."""
    if session.scalar(select(User).where(User.username == body.username)) is not None:
        raise ValueError(f"user {body.username!r} exists")
    places = []
    kinds = SCOPED.get(body.role)
    if kinds is None and body.scope:
        raise ValueError(f"role {body.role.value} has no jurisdiction: leave scope empty")
    if kinds is not None and not body.scope:
        raise ValueError(f"role {body.role.value} needs a scope: {' or '.join(kinds)} codes")
    for code in body.scope:
        place = session.scalar(select(Place).where(Place.code == code))
        if place is None or (kinds and place.kind not in kinds):
            raise ValueError(f"scope {code!r} must be an existing {' or '.join(kinds or ())}")
        places.append(place)
    user = User(
        username=body.username,
        password_hash=hash_password(body.password),
        role=body.role.value,
        created_at=datetime.now(UTC),
        active=True,
    )
    session.add(user)
    session.flush()
    session.add_all(UserScope(user_id=user.id, place_id=p.id) for p in places)
    return user


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
