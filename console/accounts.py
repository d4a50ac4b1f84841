"""Operator accounts: argon2 passwords, lockout, browser sessions and API tokens, and the audit log."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from anxin.db.models import ApiToken, AuditLog, ConsoleSession, Operator
from console.config import ConsoleOptions
from console.throttle import LoginThrottle

Role = Literal["admin", "operator", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "operator", "viewer")
TOKEN_PREFIX = "anx_"
MIN_PASSWORD = 10
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,62}$")
_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A bad account request; the message says what is wrong and never echoes a password."""


@dataclass(frozen=True)
class Principal:
    """Who is making a request: an operator, through a session (with its CSRF token) or an API token."""

    operator_id: int
    username: str
    name: str
    role: Role
    via: Literal["session", "token"]
    csrf: str | None = None

    @property
    def may_act(self) -> bool:
        """Whether this role may change alerts (acknowledge, resolve, note, silence)."""
        return self.role in ("admin", "operator")

    @property
    def sees_personal_data(self) -> bool:
        """Whether this role may see residents' names and contacts; viewers never do."""
        return self.role in ("admin", "operator")

    @property
    def is_admin(self) -> bool:
        """Whether this role may read the audit log and manage accounts."""
        return self.role == "admin"

    @property
    def actor(self) -> str:
        """How this principal is named in the audit log and alert timelines."""
        return f"operator:{self.username}"


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a log-in attempt: a session cookie value, or why not."""

    ok: bool
    reason: Literal["ok", "bad_credentials", "locked"]
    cookie: str | None = None
    operator: Operator | None = None
    retry_after_s: float = 0.0


def hash_secret(value: str) -> str:
    """SHA-256 hex of a random secret (session cookie, API token): high entropy needs no slow hash."""
    return hashlib.sha256(value.encode()).hexdigest()


def validate_username(username: str) -> str:
    """A normalised username, or AccountError."""
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise AccountError("username: 2-63 characters, lower-case letters, digits, '.', '_' or '-'")
    return name


def create_operator(
    session: Session, username: str, password: str, role: str, now: datetime, display_name: str | None = None
) -> Operator:
    """Add an account (the caller commits); AccountError on a bad name, role, weak password or a taken name."""
    name = validate_username(username)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must have at least {MIN_PASSWORD} characters")
    if session.scalar(select(Operator.id).where(Operator.username == name)) is not None:
        raise AccountError(f"username {name!r} is taken")
    op = Operator(
        username=name,
        display_name=(display_name or name).strip()[:120] or name,
        role=role,
        password_hash=_hasher.hash(password),
        active=True,
        failed_logins=0,
        created_at=now,
    )
    session.add(op)
    session.flush()
    return op


def set_password(session: Session, username: str, password: str) -> Operator:
    """Replace an account's password and unlock it (the caller commits)."""
    op = _operator(session, username)
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must have at least {MIN_PASSWORD} characters")
    op.password_hash = _hasher.hash(password)
    op.failed_logins = 0
    op.locked_until = None
    return op


def login(
    session: Session,
    username: str,
    password: str,
    now: datetime,
    *,
    address: str,
    throttle: LoginThrottle,
    session_hours: float,
) -> LoginResult:
    """Check a password, throttled per (name, address); commits. Unknown names fail exactly like wrong passwords."""
    try:
        name = validate_username(username)
    except AccountError:
        name = ""
    # Throttled by what was typed; audited only as a valid name, since a password typed into the name field is no name.
    typed = name or username.strip().lower()[:64]
    who = f"login:{name or '?'}"
    wait = throttle.wait(typed, address, now)
    if wait > 0:
        # Known or not, the same answer without checking anything: no timing says whether the name exists.
        audit(session, now, who, "login_refused", "console", {"address": address, "wait_s": round(wait, 1)})
        session.commit()
        return LoginResult(False, "locked", retry_after_s=wait)
    op = session.scalar(select(Operator).where(Operator.username == name)) if name else None
    if op is None or not op.active:
        _verify(_DUMMY_HASH, password)  # as slow as a real check
        ok = False
    else:
        ok = _verify(op.password_hash, password)
    if op is None or not op.active or not ok:
        throttle.failed(typed, address, now)
        reason = "unknown" if op is None else "disabled" if not op.active else "password"
        audit(session, now, who, "login_failed", "console", {"reason": reason, "address": address})
        session.commit()
        return LoginResult(False, "bad_credentials")
    throttle.succeeded(typed, address)
    if _hasher.check_needs_rehash(op.password_hash):
        op.password_hash = _hasher.hash(password)
    op.last_login_at = now
    cookie = secrets.token_urlsafe(32)
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
    session.add(
        ConsoleSession(
            id=hash_secret(cookie),
            operator_id=op.id,
            csrf_token=secrets.token_urlsafe(24),
            created_at=now,
            expires_at=now + timedelta(hours=session_hours),
            last_seen_at=now,
        )
    )
    audit(session, now, f"operator:{op.username}", "login", "console", {"address": address})
    session.commit()
    return LoginResult(True, "ok", cookie, op)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _principal(op: Operator, via: Literal["session", "token"], csrf: str | None = None) -> Principal:
    role: Role = op.role if op.role in ROLES else "viewer"
    return Principal(op.id, op.username, op.display_name, role, via, csrf)


def session_principal(session: Session, cookie: str, now: datetime, session_hours: float) -> Principal | None:
    """The operator of a live session cookie, sliding its expiry forward; None when unknown or expired."""
    row = session.get(ConsoleSession, hash_secret(cookie))
    if row is None or row.expires_at <= now:
        return None
    op = session.get(Operator, row.operator_id)
    if op is None or not op.active:
        return None
    # Writing on every request would serialise readers on SQLite: slide the expiry at most once a minute.
    if now - row.last_seen_at > timedelta(minutes=1):
        row.last_seen_at = now
        row.expires_at = now + timedelta(hours=session_hours)
        session.commit()
    return _principal(op, "session", row.csrf_token)


def logout(session: Session, cookie: str, now: datetime) -> None:
    """End a session; commits."""
    row = session.get(ConsoleSession, hash_secret(cookie))
    if row is not None:
        op = session.get(Operator, row.operator_id)
        session.delete(row)
        audit(session, now, f"operator:{op.username if op else '?'}", "logout", "console", {})
        session.commit()


def create_token(session: Session, username: str, name: str, now: datetime) -> str:
    """A new API token for an account (shown once; only its hash is kept); the caller commits."""
    op = _operator(session, username)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(operator_id=op.id, name=name[:80] or "token", token_hash=hash_secret(token), created_at=now))
    audit(session, now, f"operator:{op.username}", "token_created", f"operator:{op.username}", {"name": name[:80]})
    return token


def token_principal(session: Session, token: str, now: datetime, max_age: timedelta) -> Principal | None:
    """The operator of an API token neither revoked nor older than `max_age`, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(token)))
    if row is None or row.revoked_at is not None or _aware(row.created_at) + max_age <= now:
        return None
    op = session.get(Operator, row.operator_id)
    if op is None or not op.active:
        return None
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
        session.commit()
    return _principal(op, "token")


def _aware(at: datetime) -> datetime:
    # SQLite gives back naive datetimes; every time the console writes is UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def set_active(session: Session, username: str, active: bool, now: datetime, actor: str) -> Operator:
    """Enable or disable an account (a disabled one cannot log in; its sessions and tokens stop working)."""
    op = _operator(session, username)
    op.active = active
    if not active:
        session.execute(delete(ConsoleSession).where(ConsoleSession.operator_id == op.id))
    audit(session, now, actor, "operator_enabled" if active else "operator_disabled", f"operator:{op.username}", {})
    return op


def revoke_token(session: Session, token_id: int, now: datetime, actor: str) -> ApiToken:
    """Revoke an API token by its id (AccountError when unknown); the caller commits."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise AccountError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
    audit(session, now, actor, "token_revoked", f"token:{row.id}", {"name": row.name})
    return row


def _operator(session: Session, username: str) -> Operator:
    op = session.scalar(select(Operator).where(Operator.username == validate_username(username)))
    if op is None:
        raise AccountError(f"no account {username!r}")
    return op


def audit(session: Session, now: datetime, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
    """Add one audit entry (the caller commits); never pass secrets or phone numbers in `detail`."""
    session.add(AuditLog(at=now, actor=actor[:64], action=action[:64], target=target[:128], detail=detail))


def ensure_demo_admin(session: Session, path: Path, now: datetime) -> dict[str, str]:
    """The demo's admin account and API token, kept in `path` (mode 0600); created when missing. Commits."""
    saved: dict[str, str] = {}
    if path.exists():
        saved = json.loads(path.read_text())
    op = session.scalar(select(Operator).where(Operator.username == "admin"))
    if op is None or not saved.get("password"):
        password = secrets.token_urlsafe(12)
        if op is None:
            op = create_operator(session, "admin", password, "admin", now, "Demo admin")
        else:
            set_password(session, "admin", password)
        saved = {"username": "admin", "password": password}
    # A saved token that was revoked or has expired (console.token_days, default 90) is replaced.
    max_age = timedelta(days=ConsoleOptions.model_fields["token_days"].default)
    if not saved.get("token") or token_principal(session, saved["token"], now, max_age) is None:
        saved["token"] = create_token(session, "admin", "demo", now)
    session.commit()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(saved, fh, indent=2)
    return saved
