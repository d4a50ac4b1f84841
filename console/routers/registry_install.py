"""Installing a home from the console: its broker account, the installer bundle (once), and its progress online."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from anxin import shards as sharding
from anxin.broker import BrokerConfigError, Credentials
from anxin.db.models import Home, HomeSensor
from anxin.influxql import InfluxQL
from anxin.registry import credentials_path, install_home_account
from console.accounts import Principal, audit
from console.config import ConsoleSettings
from console.i18n import translator
from console.queries import registry as reg
from console.queries.registry_install import (
    DOCTOR,
    BrokerTarget,
    InstallProgress,
    bundle_zip,
    install_progress,
    read_ca,
)
from console.queries.registry_view import registry_view
from console.web import (
    ApiUser,
    InfluxDep,
    PageUser,
    SessionDep,
    check_csrf,
    get_settings,
    now_utc,
    redactor,
    render,
    request_lang,
)
from contracts.topics import HOME_ID_PATTERN
from contracts.vocabulary import ROOM_TYPES

log = logging.getLogger(__name__)
router = APIRouter(tags=["registry"])
HomeId = Annotated[str, PathParam(pattern=rf"^{HOME_ID_PATTERN}$")]


def broker_paths(settings: ConsoleSettings, shard: sharding.Shard | None = None) -> tuple[Path, Path]:
    """The accounts file and state folder of the broker the console adds a home's account to: its shard's when
    `[[shards]]` are listed, else the one broker's."""
    if shard is not None and settings.shards:
        return sharding.files(settings.shards, shard, settings.state_dir)
    opts = settings.console
    creds = opts.broker_credentials or credentials_path(settings.state_dir)
    return creds, opts.broker_state or settings.state_dir / "mosquitto"


def broker_target(settings: ConsoleSettings, shard: sharding.Shard | None = None) -> BrokerTarget:
    """Where bundles tell agents to connect: the home's shard when `[[shards]]` are listed."""
    opts, mqtt = settings.console, settings.mqtt
    host = opts.bundle_host or (mqtt.host if mqtt else "127.0.0.1")
    port = opts.bundle_port or (mqtt.port if mqtt else 1883)
    if shard is not None and settings.shards:
        host, port = shard.host, shard.port
    return BrokerTarget(host, port, opts.bundle_tls, read_ca(opts.bundle_ca_file) if opts.bundle_tls else None)


def _shards(settings: ConsoleSettings) -> list[sharding.Shard]:
    return sharding.configured(settings.shards, settings.mqtt)


def _bundle_shard(session: Session, settings: ConsoleSettings, home: str) -> sharding.Shard:
    """The shard a bundle names: the recorded one; for a home never given an account (imported from CSV) one is
    chosen now; a home with an account from before shards stays on the first shard, where its account is."""
    shards = _shards(settings)
    unplaced = settings.shards and session.scalar(select(Home.shard).where(Home.id == home)) is None
    if unplaced and home not in Credentials.load(broker_paths(settings, shards[0])[0]).users:
        shard = sharding.assign(session, home, shards)
        session.commit()
        return shard
    return sharding.shard_of(session, home, shards)


def create_account(request: Request, home: str) -> str | None:
    """Give a new home its shard and broker account (no usable password yet); a warning when the broker could not
    be told."""
    settings = get_settings(request)
    try:
        with request.app.state.sessions() as s:  # the home's row is committed: record its shard for good
            shard = sharding.assign(s, home, _shards(settings))
            s.commit()
        creds, state = broker_paths(settings, shard)
        install_home_account(creds, state, home, issue=False)
    except (BrokerConfigError, OSError, sharding.ShardError) as err:
        log.warning("home %s registered, broker account not live yet: %s", home, err)
        return str(err)
    return None


def _home(session: Session, home_id: str) -> Home:
    home = session.get(Home, home_id)
    if home is None:
        raise HTTPException(404, f"no home {home_id}")
    return home


def issue_bundle(request: Request, session: Session, user: Principal, home_id: str, reissue: bool) -> Response:
    """The installer bundle, once: claim the home's bundle, then make the password the bundle alone carries."""
    if not user.may_act:
        raise HTTPException(403, "viewers may not install homes")
    home = _home(session, home_id)
    if reissue and not user.is_admin:
        raise HTTPException(403, "only admins may issue a new password")
    now = now_utc()
    # One download: the claim is a conditional update, so two concurrent requests cannot both get a password.
    where = Home.id == home_id if reissue else (Home.id == home_id) & Home.bundle_issued_at.is_(None)
    claimed = session.execute(update(Home).where(where).values(bundle_issued_at=now, bundle_issued_by=user.actor))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise HTTPException(409, "the bundle was already downloaded; an admin may issue a new password")
    session.commit()
    settings = get_settings(request)
    try:
        shard = _bundle_shard(session, settings, home_id)
        creds, state = broker_paths(settings, shard)
        password = install_home_account(creds, state, home_id, issue=True)
    except (BrokerConfigError, OSError, sharding.ShardError) as err:
        session.execute(update(Home).where(Home.id == home_id).values(bundle_issued_at=None, bundle_issued_by=None))
        session.commit()
        log.warning("bundle for home %s not issued: %s", home_id, err)
        raise HTTPException(503, f"the broker could not be told: {err}") from err
    assert password is not None
    kit = list(session.scalars(select(HomeSensor).where(HomeSensor.home_id == home_id).order_by(HomeSensor.sensor)))
    body = bundle_zip(home, password, broker_target(settings, shard), kit)
    audit(session, now, user.actor, "bundle_issued", f"home:{home_id}", {"reissue": reissue, "sensors": len(kit)})
    session.commit()
    return Response(
        body,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="anxin-{home_id}.zip"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/api/registry/homes/{home_id}/bundle", response_class=Response)
def api_bundle(
    request: Request, home_id: HomeId, session: SessionDep, user: ApiUser, reissue: bool = False
) -> Response:
    """The home's installer bundle (zip: edge.toml with the broker password, README, CA); once, then 409.
    `reissue=true` (admins) makes a new password, and the old one stops working."""
    check_csrf(request, user, None)
    return issue_bundle(request, session, user, home_id, reissue)


@router.post("/registry/homes/{home_id}/bundle", include_in_schema=False)
async def form_bundle(request: Request, home_id: HomeId, session: SessionDep, user: PageUser) -> Response:
    """The bundle download button."""
    form = await request.form()
    csrf = form.get("csrf")
    check_csrf(request, user, csrf if isinstance(csrf, str) else None)
    return issue_bundle(request, session, user, home_id, form.get("reissue") == "on")


@router.get("/api/registry/homes/{home_id}/install", response_model=InstallProgress)
def api_progress(home_id: HomeId, session: SessionDep, influx: InfluxDep, _user: ApiUser) -> InstallProgress:
    """A home coming online: bundle handed out, agent status, each sensor's first message, days learned."""
    return install_progress(session, influx, _home(session, home_id))


@router.get("/registry/homes/{home_id}", include_in_schema=False)
def install_page(request: Request, home_id: HomeId, session: SessionDep, influx: InfluxDep, user: PageUser) -> Response:
    """One home's registry page: kit, residents, assignments, the bundle button and its installation progress."""
    t = translator(request_lang(request))
    broker_down = t("registry.broker_down") if request.query_params.get("broker") == "down" else None
    _home(session, home_id)
    detail = {"personal_data": user.sees_personal_data}
    audit(session, now_utc(), user.actor, "view_registry", f"home:{home_id}", detail)
    session.commit()
    return _install_page(request, session, influx, user, home_id, broker_down)


def _install_page(
    request: Request, session: Session, influx: InfluxQL, user: Principal, home_id: str, warning: str | None
) -> Response:
    home = _home(session, home_id)
    view = registry_view(session, redactor(request, user))
    row = next(h for h in view.homes if h.id == home_id)
    context = {
        "home": row,
        "progress": install_progress(session, influx, home),
        "warning": warning,
        "doctor": DOCTOR,
        "sensor_kinds": reg.SENSOR_KINDS,
        "room_types": ROOM_TYPES,
    }
    return render(
        request, "registry_home.html", context, status_code=400 if warning and request.method == "POST" else 200
    )


async def _home_form(
    request: Request,
    home_id: str,
    session: Session,
    influx: InfluxQL,
    user: Principal,
    change: Callable[[dict[str, str]], object],
    section: str,
) -> Response:
    """One of the install page's forms: checked, applied and committed, then back to `section` of the page; a refused
    change re-shows the page with the reason in its language."""
    raw = await request.form()
    form = {k: v.strip() for k, v in raw.items() if isinstance(v, str)}
    check_csrf(request, user, form.get("csrf"))
    if not user.may_act:
        raise HTTPException(403, "viewers may not change the registry")
    try:
        change(form)
        session.commit()
    except (reg.RegistryError, ValidationError) as err:
        session.rollback()
        return _install_page(request, session, influx, user, home_id, reg.problem(err, request_lang(request)))
    return RedirectResponse(f"/registry/homes/{home_id}#{section}", status_code=303)


@router.post("/registry/homes/{home_id}/sensors", include_in_schema=False)
async def form_sensor(
    request: Request, home_id: HomeId, session: SessionDep, influx: InfluxDep, user: PageUser
) -> Response:
    """The install page's sensor form: add a sensor to the kit (or change one), then back to the page."""

    def change(form: dict[str, str]) -> None:
        sensor = reg.SensorIn.model_validate(
            {
                "sensor": form.get("sensor", ""),
                "kind": form.get("kind", ""),
                "room": form.get("room") or None,
                "role": form.get("role") or None,
                "room_type": form.get("room_type") or None,
                "hold_s": reg.typed_number(form.get("hold_s")),
            }
        )
        reg.add_sensor(session, home_id, sensor, user.actor, now_utc())

    return await _home_form(request, home_id, session, influx, user, change, "install")


@router.post("/registry/homes/{home_id}/budget", include_in_schema=False)
async def form_budget(
    request: Request, home_id: HomeId, session: SessionDep, influx: InfluxDep, user: PageUser
) -> Response:
    """The install page's detection form: the home's false-alarm budget (blank: the default), then back."""

    def change(form: dict[str, str]) -> None:
        # A number as typed, else the text itself, which the model refuses with the field named ("1_0" is not 10).
        budget = reg.BudgetIn.model_validate({"budget": reg.typed_number(form.get("budget"))})
        reg.set_budget(session, home_id, budget, user.actor, now_utc())

    return await _home_form(request, home_id, session, influx, user, change, "detection")
