"""Log-in, log-out and who am I."""

from __future__ import annotations

import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel
from starlette.responses import RedirectResponse, Response

from console import accounts
from console.i18n import translator
from console.throttle import LoginThrottle
from console.web import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    ApiUser,
    SessionDep,
    SettingsDep,
    now_utc,
    render,
    request_lang,
    secure_cookies,
)

router = APIRouter(tags=["auth"])


class Me(BaseModel):
    """The caller's account."""

    username: str
    name: str
    role: str
    may_act: bool
    sees_personal_data: bool


def _safe_next(value: str | None) -> str:
    # Only same-site paths: never an open redirect to another host.
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _login_page(request: Request, next_path: str, error: str | None, status_code: int = 200) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request, "login.html", {"next": next_path, "error": error, "login_csrf": token}, status_code=status_code
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(request), path="/login"
    )
    return response


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str | None = None) -> Response:
    """The log-in form."""
    return _login_page(request, _safe_next(next), None)


@router.post("/login", include_in_schema=False)
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password; on success set the session cookie and go where the operator was headed."""
    t = translator(request_lang(request))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf):
        return _login_page(request, _safe_next(next), t("login.expired"), status_code=403)
    opts = settings.console
    throttle: LoginThrottle = request.app.state.throttle
    address = request.client.host if request.client else "?"
    result = accounts.login(
        session, username, password, now_utc(), address=address, throttle=throttle, session_hours=opts.session_hours
    )
    if result.reason == "locked":
        wait = max(1, math.ceil(result.retry_after_s))
        response = _login_page(request, _safe_next(next), t("login.locked", seconds=wait), status_code=429)
        response.headers["Retry-After"] = str(wait)
        return response
    if not result.ok or result.cookie is None:
        return _login_page(request, _safe_next(next), t("login.bad"), status_code=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        result.cookie,
        max_age=int(opts.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, session: SessionDep, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """End the session (CSRF-checked, so another site cannot log an operator out)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = accounts.session_principal(session, cookie, now_utc(), 1)
        if principal is not None and principal.csrf and secrets.compare_digest(principal.csrf, csrf):
            accounts.logout(session, cookie, now_utc())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/api/me", response_model=Me)
def me(principal: ApiUser) -> Me:
    """The account behind this session or token, and what its role allows."""
    return Me(
        username=principal.username,
        name=principal.name,
        role=principal.role,
        may_act=principal.may_act,
        sees_personal_data=principal.sees_personal_data,
    )
