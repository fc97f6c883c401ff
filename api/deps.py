"""Request-scoped dependencies as `Annotated` aliases: the database session, settings, and who
is calling (a user with a role and a jurisdiction, or a device)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import Device, Place, Role, SessionToken, User, UserScope
from api.security import DEVICE_PREFIX, SESSION_PREFIX, session_hash, token_hash
from api.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="a session token (users) or device token")


async def get_settings(request: Request) -> Settings:
    """`async`, as is the role check below: neither waits on anything, and a plain `def`
    dependency costs a hop to the thread pool and back on every request."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
ROW_ID_MAX = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX, description="a row id")]
SessionDep = Annotated[Session, Depends(get_session)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


@dataclass(frozen=True)
class Caller:
    """A signed-in user and the place-tree paths their jurisdiction covers."""

    user: User
    role: Role
    scope_paths: tuple[str, ...]

    def covers(self, path: str) -> bool:
        return any(path.startswith(p) for p in self.scope_paths)


def current_user(session: SessionDep, settings: SettingsDep, credentials: Credentials) -> Caller:
    if credentials is None or not credentials.credentials.startswith(SESSION_PREFIX):
        raise _unauthorized("sign in: send 'Authorization: Bearer <session token>'")
    key = settings.secret_key.get_secret_value()
    row = session.get(SessionToken, session_hash(credentials.credentials, key))
    if row is None or row.expires_at.replace(tzinfo=row.expires_at.tzinfo or UTC) < datetime.now(
        UTC
    ):
        raise _unauthorized("session expired or unknown: sign in again")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise _unauthorized("this account is disabled")
    role = Role(user.role)
    if role in (Role.ADMIN, Role.ENGINEER):
        paths: tuple[str, ...] = ("/",)
    else:
        paths = tuple(
            session.scalars(
                select(Place.path)
                .join(UserScope, UserScope.place_id == Place.id)
                .where(UserScope.user_id == user.id)
            )
        )
    return Caller(user=user, role=role, scope_paths=paths)


def current_device(session: SessionDep, credentials: Credentials) -> Device:
    if credentials is None or not credentials.credentials.startswith(DEVICE_PREFIX):
        raise _unauthorized("devices send 'Authorization: Bearer <device token>'")
    stored = token_hash(credentials.credentials)
    device = session.scalar(select(Device).where(Device.token_hash == stored))
    if device is None:  # the token a rotation replaced works until its grace period ends
        device = session.scalar(select(Device).where(Device.previous_token_hash == stored))
        until = device.previous_valid_until if device is not None else None
        if until is None or until.replace(tzinfo=until.tzinfo or UTC) < datetime.now(UTC):
            device = None
    if device is None or device.revoked:
        raise _unauthorized("unknown or revoked device token")
    return device


UserDep = Annotated[Caller, Depends(current_user)]
DeviceDep = Annotated[Device, Depends(current_device)]


def require(*roles: Role) -> Callable[[Caller], Awaitable[Caller]]:
    allowed = frozenset(roles)

    async def check(caller: UserDep) -> Caller:
        if caller.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs role {names}")
        return caller

    return check


Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
Reader = Annotated[Caller, Depends(require(Role.ADMIN, Role.OFFICE, Role.SUPERVISOR))]
Reviewer = Annotated[Caller, Depends(require(Role.ADMIN, Role.SUPERVISOR))]
Engineer = Annotated[Caller, Depends(require(Role.ADMIN, Role.ENGINEER))]
AnyUser = Annotated[Caller, Depends(require(*Role))]


def place_in_scope(session: Session, caller: Caller, code: str) -> Place:
    """The place with this code, if the caller's jurisdiction covers it (404 otherwise, so a
    caller cannot learn which codes exist outside their jurisdiction)."""
    place = session.scalar(select(Place).where(Place.code == code))
    if place is None or not caller.covers(place.path):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no place {code!r} in your jurisdiction")
    return place
