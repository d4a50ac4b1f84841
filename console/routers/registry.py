"""The registry in the console: forms for admins and operators (page /registry) and their JSON twins (/api/registry).

Forms and API go through console/queries/registry.py, which checks and audits every change.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, cast

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from anxin.db.models import Home
from console.accounts import Principal, audit
from console.queries import registry as reg
from console.queries.registry_view import RegistryView, registry_view
from console.routers.registry_install import create_account
from console.web import ApiUser, PageUser, SessionDep, check_csrf, now_utc, redactor, render, request_lang
from contracts.vocabulary import DEFAULT_TIMEZONE, ROOM_TYPES

log = logging.getLogger(__name__)
router = APIRouter(tags=["registry"])


class Saved(BaseModel):
    """What a registry change did: the record's id, and a warning when the broker could not be told."""

    ok: bool
    id: str
    warning: str | None = None


def _may_change(principal: Principal) -> None:
    if not principal.may_act:
        raise HTTPException(403, "viewers may not change the registry")


def _apply(session: Session, change: Callable[[], object]) -> object:
    """Run one change and commit; refused changes roll back and raise RegistryError or ValidationError."""
    try:
        out = change()
        session.commit()
    except (reg.RegistryError, ValidationError):
        session.rollback()
        raise
    return out


# --- JSON API -------------------------------------------------------------------------------------------------------


@router.get("/api/registry", response_model=RegistryView)
def registry_json(request: Request, session: SessionDep, user: ApiUser) -> RegistryView:
    """Districts, policies, homes with kits and assignments, responders; residents and phones only for roles that
    may see personal data (phones masked)."""
    _viewed(session, user, "registry")
    return registry_view(session, redactor(request, user))


def _viewed(session: Session, user: Principal, target: str) -> None:
    """Audit a read of the registry, saying whether residents' personal data was in it (as the home page does)."""
    audit(session, now_utc(), user.actor, "view_registry", target, {"personal_data": user.sees_personal_data})
    session.commit()


def _api(request: Request, session: Session, user: Principal, change: Callable[[], Any]) -> Any:
    _may_change(user)
    check_csrf(request, user, None)
    try:
        return _apply(session, change)
    except (reg.RegistryError, ValidationError) as err:
        raise HTTPException(422, reg.problem(err, "en")) from err


@router.post("/api/registry/districts", response_model=Saved)
def api_district(request: Request, body: reg.DistrictIn, session: SessionDep, user: ApiUser) -> Saved:
    """Register a district."""
    d = _api(request, session, user, lambda: reg.add_district(session, body, user.actor, now_utc()))
    return Saved(ok=True, id=d.name)


@router.post("/api/registry/homes", response_model=Saved)
def api_home(request: Request, body: reg.HomeIn, session: SessionDep, user: ApiUser) -> Saved:
    """Create (no id) or update a home with its kit; a new home gets its broker account at once."""
    home, new = _api(request, session, user, lambda: reg.save_home(session, body, user.actor, now_utc()))
    warning = create_account(request, home.id) if new else None
    return Saved(ok=True, id=home.id, warning=warning)


@router.post("/api/registry/homes/{home_id}/sensors", response_model=Saved)
def api_sensor(request: Request, home_id: str, body: reg.SensorIn, session: SessionDep, user: ApiUser) -> Saved:
    """Add a sensor to a home's kit (or change its kind, room, role, room type and hold time)."""
    _api(request, session, user, lambda: reg.add_sensor(session, home_id, body, user.actor, now_utc()))
    return Saved(ok=True, id=f"{home_id}/{body.sensor}")


@router.post("/api/registry/homes/{home_id}/budget", response_model=Saved)
def api_budget(request: Request, home_id: str, body: reg.BudgetIn, session: SessionDep, user: ApiUser) -> Saved:
    """Set a home's false-alarm budget (false long_inactivity alarms per 60 days; null: the default)."""
    _api(request, session, user, lambda: reg.set_budget(session, home_id, body, user.actor, now_utc()))
    return Saved(ok=True, id=home_id)


@router.post("/api/registry/residents", response_model=Saved)
def api_resident(request: Request, body: reg.ResidentIn, session: SessionDep, user: ApiUser) -> Saved:
    """Register a resident of a home, with contacts and consent."""
    r = _api(request, session, user, lambda: reg.add_resident(session, body, user.actor, now_utc()))
    return Saved(ok=True, id=str(r.id))


@router.post("/api/registry/responders", response_model=Saved)
def api_responder(request: Request, body: reg.ResponderIn, session: SessionDep, user: ApiUser) -> Saved:
    """Register a responder, or update the one with this phone number."""
    r, _new = _api(request, session, user, lambda: reg.save_responder(session, body, user.actor, now_utc()))
    return Saved(ok=True, id=str(r.id))


@router.post("/api/registry/assignments", response_model=Saved)
def api_assign(request: Request, body: reg.AssignmentIn, session: SessionDep, user: ApiUser) -> Saved:
    """Assign a responder (by phone number) to a home with a priority."""
    a = _api(request, session, user, lambda: reg.assign(session, body, user.actor, now_utc()))
    return Saved(ok=True, id=str(a.id))


@router.post("/api/registry/assignments/remove", response_model=Saved)
def api_unassign(request: Request, body: reg.AssignmentIn, session: SessionDep, user: ApiUser) -> Saved:
    """Remove a responder (by id or phone number) from a home; 422 when they were not assigned."""
    _api(request, session, user, lambda: reg.unassign(session, body, user.actor, now_utc()))
    return Saved(ok=True, id=body.home)


@router.post("/api/registry/policies", response_model=Saved)
def api_policy(request: Request, body: reg.PolicyIn, session: SessionDep, user: ApiUser) -> Saved:
    """Set the escalation policy of a district or of one home (merged over its district's, then the defaults)."""
    p = _api(request, session, user, lambda: reg.set_policy(session, body, user.actor, now_utc()))
    return Saved(ok=True, id=str(p.id))


# --- forms ----------------------------------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


KIT_WORDS = ("sensor", "kind", "room", "role")  # a kit line's words by position
KIT_NAMED = ("room_type", "hold_s")  # and by name, anywhere on the line


def parse_kit(text: str) -> list[dict[str, Any]]:
    """Kit lines "sensor kind [room] [role] [room_type=TYPE] [hold_s=SECONDS]", one sensor a line.

    A word too many, a name other than those two, or one named twice is refused with its line: settled silently,
    `p1 motion r2 bed x` or `room_type=bedroom room_type=kitchen` would register what nobody meant.
    """
    out = []
    for n, line in enumerate(text.splitlines(), start=1):  # (numbered as the person sees them, blank ones too)
        words = line.replace(",", " ").split()
        if not words:
            continue
        plain = [w for w in words if "=" not in w]
        if len(plain) > len(KIT_WORDS):
            raise reg.RegistryError("registry.error.kit_extra", line=n, word=plain[len(KIT_WORDS)])
        sensor: dict[str, Any] = dict(zip(KIT_WORDS[:2], [*plain, "", ""][:2], strict=True))
        sensor |= {k: v or None for k, v in zip(KIT_WORDS[2:], plain[2:], strict=False)}
        for word in (w for w in words if "=" in w):
            name, _, value = word.partition("=")
            if name not in KIT_NAMED or name in sensor:
                raise reg.RegistryError("registry.error.kit_named", line=n, word=word)
            sensor[name] = reg.typed_number(value) if name == "hold_s" else value or None
        out.append(sensor)
    return out


def parse_windows(text: str) -> list[dict[str, Any]]:
    """Availability lines "0-4 08:00-20:00" (0 = Monday) or "08:00-20:00" (every day)."""
    out = []
    for line in _lines(text.replace(";", "\n")):
        *days, span = line.split()
        start, _, end = span.partition("-")
        window: dict[str, Any] = {"start": start, "end": end}
        if days:
            window["days"] = _days(days[0])
        out.append(window)
    return out


def _days(spec: str) -> list[int]:
    days: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return [-1]  # refused by the model with the field named
        days.extend(range(int(lo), int(hi or lo) + 1))
    return days


SMS_WORDS = ("sms", "短信")


def parse_contacts(text: str) -> list[dict[str, Any]]:
    """Contact lines "name, [relation,] phone[, sms]": "sms" at the end asks for alert SMS to that contact."""
    out = []
    for line in _lines(text.replace("，", ",")):
        parts = [p.strip() for p in line.split(",")]
        sms = len(parts) > 2 and parts[-1].lower() in SMS_WORDS
        if sms:
            parts = parts[:-1]
        # The phone is always last of what remains.
        name, relation, phone = parts[0], parts[1] if len(parts) > 2 else None, parts[-1]
        out.append({"name": name, "relation": relation or None, "phone": phone, "sms": sms})
    return out


def _opt(form: dict[str, str], key: str) -> str | None:
    value = form.get(key, "").strip()
    return value or None


def _float(form: dict[str, str], key: str) -> float | str | None:
    value = _opt(form, key)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return value  # refused by the model with the field named


def form_change(kind: str, form: dict[str, str], session: Session, actor: str) -> Callable[[], Any]:
    """The registry change a submitted form asks for (validated when run)."""
    now = now_utc()
    if kind == "districts":
        return lambda: reg.add_district(session, reg.DistrictIn(name=form.get("name", "")), actor, now)
    if kind == "homes":
        home = {
            "label": form.get("label", ""),
            "district": form.get("district", ""),
            "address": _opt(form, "address"),
            "timezone": _opt(form, "timezone") or DEFAULT_TIMEZONE,
            "latitude": _float(form, "latitude"),
            "longitude": _float(form, "longitude"),
            "sensors": parse_kit(form.get("kit", "")),
        }
        return lambda: reg.save_home(session, reg.HomeIn.model_validate(home), actor, now)
    if kind == "residents":
        resident = {
            "home": form.get("home", ""),
            "name": form.get("name", ""),
            "phone": _opt(form, "phone"),
            "notes": _opt(form, "notes"),
            "consent": form.get("consent") == "on",
            "contacts": parse_contacts(form.get("contacts", "")),
        }
        return lambda: reg.add_resident(session, reg.ResidentIn.model_validate(resident), actor, now)
    if kind == "responders":
        responder = {
            "name": form.get("name", ""),
            "phone": form.get("phone", "").replace(" ", ""),
            "role": form.get("role", "volunteer"),
            "district": _opt(form, "district"),
            "lang": form.get("lang", "zh-CN"),
            "skills": [x.strip() for x in form.get("skills", "").replace("，", ",").split(",") if x.strip()],
            "availability": parse_windows(form.get("availability", "")),
            "vetted": form.get("vetted") == "on",
            "opted_in": form.get("opted_in") == "on",
        }
        return lambda: reg.save_responder(session, reg.ResponderIn.model_validate(responder), actor, now)
    if kind == "assignments":
        prio = form.get("priority", "1").strip() or "1"
        a = {"home": form.get("home", ""), "responder": form.get("responder") or None, "priority": prio}
        return lambda: reg.assign(session, reg.AssignmentIn.model_validate(a), actor, now)
    if kind == "unassign":
        a = {"home": form.get("home", ""), "responder": form.get("responder") or None}
        return lambda: reg.unassign(session, reg.AssignmentIn.model_validate(a), actor, now)
    if kind == "policies":
        return lambda: reg.set_policy(session, _policy(form), actor, now)
    raise HTTPException(404, f"no registry form {kind}")


def _policy(form: dict[str, str]) -> reg.PolicyIn:
    """The policy form: a target "district:NAME" or "home:ID" and the spec as JSON."""
    kind, _, name = form.get("target", "").partition(":")
    try:
        spec = json.loads(form.get("spec") or "{}")
    except ValueError as err:
        raise reg.RegistryError("registry.error.bad_json", why=str(err)) from err
    target = {"district": name} if kind == "district" else {"home": name}
    return reg.PolicyIn.model_validate({**target, "spec": spec})


def _page(request: Request, session: Session, user: Principal, **extra: Any) -> Response:
    view = registry_view(session, redactor(request, user))
    context = {
        "view": view,
        "roles": reg.RESPONDER_ROLES,
        "sensor_kinds": reg.SENSOR_KINDS,
        "room_types": ROOM_TYPES,
        "error": None,
    }
    return render(request, "registry.html", {**context, **extra}, status_code=400 if extra.get("error") else 200)


@router.get("/registry", include_in_schema=False)
def registry_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    """The registry page: districts, homes, residents, responders, assignments, with forms by role."""
    _viewed(session, user, "registry")
    return _page(request, session, user)


@router.post("/registry/{kind}", include_in_schema=False)
async def registry_form(request: Request, kind: str, session: SessionDep, user: PageUser) -> Response:
    """A registry form: apply it, then back to the page (or a new home's install page); errors re-show the form."""
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    check_csrf(request, user, form.get("csrf"))
    _may_change(user)
    try:
        out = _apply(session, form_change(kind, form, session, user.actor))
    except (reg.RegistryError, ValidationError) as err:
        log.info("registry form %s refused: %s", kind, reg.problem(err, "en"))
        return _page(request, session, user, error=reg.problem(err, request_lang(request)), form=form, kind=kind)
    if kind == "unassign":
        return RedirectResponse(f"/registry/homes/{form.get('home', '')}#people", status_code=303)
    if kind == "homes":
        home, new = cast(tuple[Home, bool], out)
        warning = create_account(request, home.id) if new else None
        target = f"/registry/homes/{home.id}" + ("?broker=down" if warning else "")
        return RedirectResponse(target, status_code=303)
    return RedirectResponse(f"/registry?saved={kind}#{kind}", status_code=303)
