"""User accounts: made by the `/users` route and by `binwatch users create`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import Place, Role, User, UserScope
from api.schemas import UserCreate
from api.security import hash_password

SCOPED = {Role.OFFICE: ("district", "street"), Role.SUPERVISOR: ("community", "compound")}


def create_user(session: Session, body: UserCreate) -> User:
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
