"""Homes: the overview (page and /api/homes) and one home's page."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from anxin.db.models import Home
from console import charts, overview, routine_words, timeline, views
from console.accounts import Principal, audit
from console.i18n import Translator, translator
from console.queries import alerts as alert_queries
from console.queries import homes as home_queries
from console.queries import responders as responder_queries
from console.routers import demo
from console.snapshot import ActivitySnapshot
from console.web import (
    MAX_ID,
    ApiUser,
    InfluxDep,
    PageUser,
    SessionDep,
    SettingsDep,
    SnapshotDep,
    now_utc,
    redactor,
    render,
    request_lang,
)
from contracts.vocabulary import OUTCOMES

router = APIRouter(tags=["homes"])
District = Annotated[str | None, Query(max_length=80)]
StateQ = Annotated[views.HomeState | None, Query()]
ResponderQ = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Search = Annotated[str | None, Query(max_length=80)]


class SensorOut(BaseModel):
    """A sensor with its battery and when it was last heard."""

    sensor: str
    kind: str
    room: str
    last_seen: Any
    battery: int | None


class HomeDetail(BaseModel):
    """One home: activity series, sensors, hub, routine, alerts, and residents when the role allows."""

    id: str
    label: str
    district: str
    activity_available: bool
    hours: list[Any]
    rooms_by_hour: dict[str, list[float]]
    days: list[Any]
    door_openings: list[float]
    night_activity: list[float]
    sensors: list[SensorOut]
    agent: dict[str, Any]
    heartbeat: dict[str, Any]
    routine: views.Routine | None
    silenced_until: Any
    alerts: list[views.AlertRow]
    residents: list[views.ResidentRow] | None


def _blank(value: str | None) -> str | None:
    return value or None


def _overview(request: Request, session: Session, snapshot: ActivitySnapshot) -> views.HomesView:
    cache: overview.OverviewCache = request.app.state.overview
    return cache.get(session, snapshot.get(), now_utc())[0]


@router.get("/api/homes", response_model=views.HomesView)
def homes_json(
    request: Request,
    session: SessionDep,
    snapshot: SnapshotDep,
    _user: ApiUser,
    district: District = None,
    state: StateQ = None,
    responder: ResponderQ = None,
    q: Search = None,
) -> Response:
    """Every home with its state (alert/offline/watch/learning/ok), last activity, hub and open alerts; filterable."""
    full = _overview(request, session, snapshot)
    view = overview.filter_view(full, district=_blank(district), state=state, responder=responder, q=_blank(q))
    if view is not full:
        return Response(view.model_dump_json(), media_type="application/json")
    extras = request.app.state.overview.extras
    if "json" not in extras:
        extras["json"] = full.model_dump_json().encode()
    return Response(extras["json"], media_type="application/json")


@router.get("/", include_in_schema=False)
@router.get("/homes", include_in_schema=False)
def homes_page(
    request: Request,
    session: SessionDep,
    snapshot: SnapshotDep,
    _user: PageUser,
    district: District = None,
    state: Annotated[str | None, Query(max_length=16)] = None,
    responder: Annotated[str | None, Query(max_length=12)] = None,
    q: Search = None,
) -> Response:
    """The overview: every home coloured by state, with filters and live updates."""
    chosen_state = state if state in views.HOME_STATES else None
    chosen_responder = int(responder) if responder and responder.isdigit() else None
    full = _overview(request, session, snapshot)
    view = overview.filter_view(
        full, district=_blank(district), state=chosen_state, responder=chosen_responder, q=_blank(q)
    )
    filters = {"district": district or "", "state": chosen_state or "", "responder": chosen_responder, "q": q or ""}
    lang = request_lang(request)
    rows_key = ("rows", lang)
    extras = request.app.state.overview.extras
    rows_html = extras.get(rows_key) if view is full else None
    if rows_html is None:
        rows_html = _render_rows(request, view, lang)
        if view is full:
            extras[rows_key] = rows_html
    return render(
        request,
        "homes.html",
        {
            "view": view,
            "filters": filters,
            "states": views.HOME_STATES,
            "responders": responder_queries.responder_choices(session),
            "filtered": any(v for v in filters.values()),
            "rows_html": rows_html,
            # Open alerts split into nobody-has-it-yet and taken (issue 15), above the homes.
            "open_alerts": alert_queries.open_alerts(session, redactor(request, _user)).alerts,
        },
    )


def _render_rows(request: Request, view: views.HomesView, lang: str) -> str:
    """The overview's table rows, rendered once per change and language (10k rows cost ~0.3 s to render)."""
    t = translator(lang)
    template = request.app.state.templates.env.get_template("homes_rows.html")
    states = {st: t.label("home_state", st) for st in views.HOME_STATES}
    return str(template.render(view=view, t=t, st_names=states))


def _home_detail(
    request: Request, session: Session, influx: Any, home_id: str, who: Principal, timezone: str
) -> HomeDetail:
    home = session.get(Home, home_id)
    if home is None:
        raise HTTPException(404, f"no home {home_id}")
    now = now_utc()
    act = charts.read_home_activity(influx, home.id, timezone, now)
    show = who.sees_personal_data
    audit(session, now, who.actor, "view_home", f"home:{home.id}", {"personal_data": show})
    session.commit()
    return HomeDetail(
        id=home.id,
        label=home.label,
        district=home.district,
        activity_available=act.available,
        hours=[h.isoformat() for h in act.hours],
        rooms_by_hour=act.rooms,
        days=[d.isoformat() for d in act.days],
        door_openings=act.doors,
        night_activity=act.nights,
        sensors=[SensorOut(**s.__dict__) for s in act.sensors],
        agent={k: v for k, v in act.agent.items() if k not in ("home",)},
        heartbeat={k: v for k, v in act.heartbeat.items() if k not in ("home",)},
        routine=home_queries.routine(session, home.id),
        silenced_until=alert_queries.active_silence(session, home.id, now),
        alerts=alert_queries.home_alerts(session, home.id, redactor(request, who)).alerts,
        residents=home_queries.residents(session, home.id) if show else None,
    )


@router.get("/api/homes/{home_id}", response_model=HomeDetail)
def home_json(
    request: Request, home_id: str, session: SessionDep, influx: InfluxDep, settings: SettingsDep, user: ApiUser
) -> HomeDetail:
    """One home; residents' contacts only for admins and operators (null for viewers)."""
    return _home_detail(request, session, influx, home_id, user, settings.console.timezone)


@router.get("/homes/{home_id}", include_in_schema=False)
def home_page(
    request: Request, home_id: str, session: SessionDep, influx: InfluxDep, settings: SettingsDep, user: PageUser
) -> Response:
    """One home's page: charts, sensors, hub, routine, alert history and (by role) residents."""
    zone = settings.console.timezone
    detail = _home_detail(request, session, influx, home_id, user, zone)
    t = translator(request_lang(request))
    hours = [datetime.fromisoformat(h) for h in detail.hours]
    days = [d[5:] for d in detail.days]
    alerts = [(a.opened_at, f"{t.label('kind', a.kind)} · {t.label('severity', a.severity)}") for a in detail.alerts]
    svg = {
        "rooms": charts.heatmap(
            {t.label("room", room): v for room, v in detail.rooms_by_hour.items()},
            hours,
            t("home.chart.rooms"),
            lambda n: t("home.unit.events", n=n),
        ),
        "doors": charts.bars(detail.door_openings, days, t("home.chart.doors"), lambda n: t("home.unit.openings", n=n)),
        "nights": charts.bars(
            detail.night_activity,
            days,
            t("home.chart.nights"),
            lambda n: t("home.unit.events", n=n),
            color="#6f42c1",
        ),
    }
    charts.mark_heatmap(svg["rooms"], hours, alerts)
    dates = [date.fromisoformat(d) for d in detail.days]
    charts.mark_bars(svg["doors"], dates, alerts, zone)
    charts.mark_bars(svg["nights"], dates, alerts, zone)
    if svg["rooms"] is not None:
        svg["rooms"].legend.extend(_heat_legend(t))
    summary = detail.routine.summary if detail.routine else {}
    words = {
        "routine": routine_words.routine_sentences(summary, t),
        "stillness": routine_words.stillness_sentences(summary, t),
    }
    day = _timeline(influx, detail, summary, zone, t, alerts)
    context = {"home": detail, "svg": svg, "timeline": day, "words": words, "outcomes": OUTCOMES}
    if demo.demo_phones(settings.state_dir) is not None:  # `anxin demo` only: the incident button
        played = request.query_params.get("played")
        context |= {
            "demo": True,
            "demo_incidents": demo.INCIDENTS,
            "played": played if played in demo.INCIDENTS else None,
        }
    return render(request, "home.html", context)


def _heat_legend(t: Translator) -> list[charts.LegendItem]:
    """The heat map's scale: pale is little movement, dark blue a lot."""
    return [
        charts.LegendItem("rgba(31,111,235,0.2)", t("chart.less")),
        charts.LegendItem("rgba(31,111,235,1)", t("chart.more")),
        charts.LegendItem(charts.MARK_COLOR, t("chart.alert_mark")),
    ]


def _timeline(
    influx: Any, detail: HomeDetail, summary: dict[str, Any], zone: str, t: Translator,
    alerts: list[tuple[datetime, str]],
) -> timeline.Timeline | None:  # fmt: skip
    """The last 24 h as lanes (rooms, door, bed) with the alerts opened in them marked."""
    roles = summary.get("mat_roles")
    beds = {s for s, r in roles.items() if r == "bed"} if isinstance(roles, dict) else set()
    day = timeline.read_day(influx, detail.id, zone, now_utc(), beds)
    rooms = {room: t.label("room", room) for room in day.rooms}
    words = timeline.TimelineWords(
        t("timeline.title"), t("timeline.door"), t("timeline.bed"), t("timeline.room"), t("timeline.finding"),
        t("timeline.span"),
    )  # fmt: skip
    return timeline.draw(day, rooms, [timeline.Finding(at, text) for at, text in alerts], words)
