"""What the routers share: request dependencies, the chosen language and page rendering."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from anxin.db.models import Alert
from anxin.influxql import InfluxQL
from console import accounts
from console.accounts import Principal
from console.config import ConsoleSettings
from console.i18n import LANG_COOKIE, LANG_NAMES, SUPPORTED, negotiate, normalize, translator
from console.redaction import Redactor
from console.snapshot import ActivitySnapshot
from contracts.vocabulary import CLOSED_STATES, SEVERITIES

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
COOKIE_MAX_AGE_S = 365 * 86400
SESSION_COOKIE = "anxin_session"
LOGIN_CSRF_COOKIE = "anxin_login_csrf"
CSRF_HEADER = "x-csrf-token"
# SQL integers are signed 64-bit: a larger id or offset would overflow in the driver (a 500), so it is a 422.
MAX_ID = 2**63 - 1
# The most rows one list request returns: six concurrent requests must not take hundreds of MB.
MAX_PAGE = 500
AlertId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="An alert's id")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]


class LoginRequired(Exception):
    """A page was asked for without a session: the app redirects to the log-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def make_templates(timezone: str) -> Jinja2Templates:
    """The page templates, with filters showing times in the console's zone and the severities as a global."""
    templates = Jinja2Templates(directory=TEMPLATES)
    zone = ZoneInfo(timezone)

    def localtime(value: datetime | None) -> str:
        return "—" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    def localtime_s(value: datetime | None) -> str:
        return "—" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    def evidence(value: Any) -> str:
        # Evidence carries ISO times and plain numbers; show times in the console's zone.
        if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and "T" in value:
            try:
                return localtime_s(datetime.fromisoformat(value))
            except ValueError:
                return value
        if isinstance(value, float):
            return f"{value:.1f}"
        return str(value)

    templates.env.filters["localtime"] = localtime
    templates.env.filters["evidence"] = evidence
    templates.env.filters["localtime_s"] = localtime_s
    templates.env.globals["severities"] = SEVERITIES  # the pill colours a severity may take
    return templates


def get_settings(request: Request) -> ConsoleSettings:
    """The app's settings."""
    settings: ConsoleSettings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A SQL session for one request."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions() as session:
        yield session


def get_influx(request: Request) -> InfluxQL:
    """The InfluxQL client."""
    influx: InfluxQL = request.app.state.influx
    return influx


def get_snapshot(request: Request) -> ActivitySnapshot:
    """The background-refreshed activity snapshot."""
    snapshot: ActivitySnapshot = request.app.state.snapshot
    return snapshot


SessionDep = Annotated[Session, Depends(get_session)]
InfluxDep = Annotated[InfluxQL, Depends(get_influx)]
SettingsDep = Annotated[ConsoleSettings, Depends(get_settings)]
SnapshotDep = Annotated[ActivitySnapshot, Depends(get_snapshot)]


def now_utc() -> datetime:
    """The current time, aware, UTC."""
    return datetime.now(UTC)


def find_principal(request: Request, session: Session) -> Principal | None:
    """Who is asking: a `Bearer` API token first, else the session cookie; None when neither is valid."""
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        max_age = timedelta(days=get_settings(request).console.token_days)
        return accounts.token_principal(session, credential.strip(), now_utc(), max_age)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return accounts.session_principal(session, cookie, now_utc(), get_settings(request).console.session_hours)
    return None


def api_user(request: Request, session: SessionDep) -> Principal:
    """The caller of an API endpoint, or 401."""
    principal = find_principal(request, session)
    if principal is None:
        raise HTTPException(
            401, "log in, or send an API token as 'Authorization: Bearer anx_...'", {"WWW-Authenticate": "Bearer"}
        )
    request.state.principal = principal
    return principal


def page_user(request: Request, session: SessionDep) -> Principal:
    """The operator looking at a page, or a redirect to the log-in page."""
    principal = find_principal(request, session)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    request.state.principal = principal
    return principal


ApiUser = Annotated[Principal, Depends(api_user)]
PageUser = Annotated[Principal, Depends(page_user)]


def redactor(request: Request, principal: Principal) -> Redactor:
    """What this caller may see of SMS links, reply codes and phone numbers."""
    key: bytes = request.app.state.mask_key
    return Redactor(key, principal.sees_personal_data)


def require_actor(principal: Principal) -> None:
    """403 unless the role may change alerts."""
    if not principal.may_act:
        raise HTTPException(403, "viewers may not change alerts")


def require_admin(principal: Principal) -> None:
    """403 unless an admin."""
    if not principal.is_admin:
        raise HTTPException(403, "only admins may see this")


def check_csrf(request: Request, principal: Principal, submitted: str | None) -> None:
    """403 unless a session-authenticated change carries its session's CSRF token (API tokens need none)."""
    if principal.via == "token":
        return
    expected = principal.csrf or ""
    given = submitted or request.headers.get(CSRF_HEADER) or ""
    if not expected or not secrets.compare_digest(expected, given):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")


def login_redirect(next_path: str) -> str:
    """The log-in page's address, returning to `next_path` afterwards."""
    return f"/login?next={quote(next_path, safe='')}"


def secure_cookies(request: Request) -> bool:
    """Whether cookies get the Secure flag on this request."""
    mode = get_settings(request).console.cookie_secure
    if mode == "always":
        return True
    if mode == "never":
        return False
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


def request_lang(request: Request) -> str:
    """The language of this request: ?lang=, then the cookie, then Accept-Language."""
    return negotiate(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """Render a page in the request's language, remembering an explicit ?lang= in a cookie."""
    settings = get_settings(request)
    lang = request_lang(request)
    t = translator(lang)
    # Relative links, so they stay right behind a reverse proxy.
    links = {code: f"{request.url.path}?{urlencode({**request.query_params, 'lang': code})}" for code in SUPPORTED}
    templates: Jinja2Templates = request.app.state.templates
    principal: Principal | None = getattr(request.state, "principal", None)
    open_count = 0
    if principal is not None:
        sessions: sessionmaker[Session] = request.app.state.sessions
        with sessions() as session:
            open_count = (
                session.scalar(select(func.count()).select_from(Alert).where(Alert.state.not_in(CLOSED_STATES))) or 0
            )
    response = templates.TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "t": t,
            "now": datetime.now(UTC),
            "refresh_s": settings.console.refresh_s,
            "user": principal,
            "tz": settings.console.timezone,
            "js_strings": {
                "states": {st: t.label("home_state", st) for st in ("alert", "offline", "watch", "learning", "ok")},
                "new_alert": t("live.new_alert"),
                "live_on": t("live.on"),
                "live_off": t("live.off"),
            },
            "csrf": principal.csrf if principal is not None else "",
            "open_count": open_count,
            "lang_links": links,
            "lang_names": LANG_NAMES,
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Vary": "Accept-Language, Cookie"},
    )
    chosen = normalize(request.query_params.get("lang"))
    if chosen and chosen != request.cookies.get(LANG_COOKIE):
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="lax", secure=secure_cookies(request)
        )
    return response
