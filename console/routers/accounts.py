"""Account administration (admins only): list accounts and tokens, disable or enable, clear log-in waits, revoke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel
from sqlalchemy import select

from anxin.db.models import ApiToken, Operator
from console import accounts
from console.accounts import AccountError, Principal
from console.throttle import LoginThrottle
from console.web import MAX_ID, ApiUser, SessionDep, SettingsDep, check_csrf, now_utc, require_admin

router = APIRouter(tags=["accounts"])
Username = Annotated[str, Path(max_length=63)]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]


class TokenRow(BaseModel):
    """An API token's metadata (never the token: only its hash is kept)."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime


class OperatorRow(BaseModel):
    """A console account and its tokens."""

    username: str
    name: str
    role: str
    active: bool
    last_login_at: datetime | None
    tokens: list[TokenRow]


class OperatorsView(BaseModel):
    """Every console account."""

    operators: list[OperatorRow]


class Done(BaseModel):
    """What an account action did."""

    ok: bool
    detail: str


def _admin(request: Request, user: Principal) -> None:
    require_admin(user)
    check_csrf(request, user, None)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@router.get("/api/operators", response_model=OperatorsView)
def operators(session: SessionDep, settings: SettingsDep, user: ApiUser) -> OperatorsView:
    """Every account with its API tokens, when each expires and whether it is revoked."""
    require_admin(user)
    age = timedelta(days=settings.console.token_days)
    tokens: dict[int, list[TokenRow]] = {}
    for t in session.scalars(select(ApiToken).order_by(ApiToken.id)):
        tokens.setdefault(t.operator_id, []).append(
            TokenRow(
                id=t.id,
                name=t.name,
                created_at=t.created_at,
                last_used_at=t.last_used_at,
                revoked_at=t.revoked_at,
                expires_at=_utc(t.created_at) + age,
            )
        )
    rows = [
        OperatorRow(
            username=op.username,
            name=op.display_name,
            role=op.role,
            active=op.active,
            last_login_at=op.last_login_at,
            tokens=tokens.get(op.id, []),
        )
        for op in session.scalars(select(Operator).order_by(Operator.username))
    ]
    return OperatorsView(operators=rows)


def _set_active(request: Request, session: SessionDep, user: Principal, username: str, active: bool) -> Done:
    _admin(request, user)
    try:
        op = accounts.set_active(session, username, active, now_utc(), user.actor)
    except AccountError as err:
        raise HTTPException(404, str(err)) from err
    session.commit()
    return Done(ok=True, detail=f"{op.username} {'enabled' if active else 'disabled'}")


@router.post("/api/operators/{username}/disable", response_model=Done)
def disable(request: Request, username: Username, session: SessionDep, user: ApiUser) -> Done:
    """Disable an account: it cannot log in, and its sessions and tokens stop working at once."""
    return _set_active(request, session, user, username, False)


@router.post("/api/operators/{username}/enable", response_model=Done)
def enable(request: Request, username: Username, session: SessionDep, user: ApiUser) -> Done:
    """Enable a disabled account again."""
    return _set_active(request, session, user, username, True)


@router.post("/api/operators/{username}/unlock", response_model=Done)
def unlock(request: Request, username: Username, session: SessionDep, user: ApiUser) -> Done:
    """Clear the log-in waits of a name from every address (they also end by themselves within minutes)."""
    _admin(request, user)
    throttle: LoginThrottle = request.app.state.throttle
    name = username.strip().lower()
    cleared = throttle.unlock(name)
    accounts.audit(session, now_utc(), user.actor, "operator_unlocked", f"operator:{name}", {"waits": cleared})
    session.commit()
    return Done(ok=True, detail=f"{cleared} wait(s) cleared for {name}")


@router.post("/api/tokens/{token_id}/revoke", response_model=Done)
def revoke(request: Request, token_id: TokenId, session: SessionDep, user: ApiUser) -> Done:
    """Revoke an API token (its id is in /api/operators); it stops working at once."""
    _admin(request, user)
    try:
        accounts.revoke_token(session, token_id, now_utc(), user.actor)
    except AccountError as err:
        raise HTTPException(404, str(err)) from err
    session.commit()
    return Done(ok=True, detail=f"token {token_id} revoked")
