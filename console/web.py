"""What the routers share: request dependencies, the chosen language and page rendering."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from anxin.influxql import InfluxQL
from console.config import ConsoleSettings
from console.i18n import LANG_COOKIE, LANG_NAMES, SUPPORTED, negotiate, normalize, translator

TEMPLATES = Path(__file__).parent / "templates"
COOKIE_MAX_AGE_S = 365 * 86400


def make_templates(timezone: str) -> Jinja2Templates:
    """The page templates, with a filter showing times in the console's zone."""
    templates = Jinja2Templates(directory=TEMPLATES)
    zone = ZoneInfo(timezone)

    def localtime(value: datetime | None) -> str:
        return "—" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    templates.env.filters["localtime"] = localtime
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


SessionDep = Annotated[Session, Depends(get_session)]
InfluxDep = Annotated[InfluxQL, Depends(get_influx)]
SettingsDep = Annotated[ConsoleSettings, Depends(get_settings)]


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
    response = templates.TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "t": t,
            "now": datetime.now(UTC),
            "refresh_s": settings.console.refresh_s,
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
        response.set_cookie(LANG_COOKIE, chosen, max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="lax")
    return response
