"""Demo only: each responder's phone (the SMS they were sent, and replying as them through the real, signed
Twilio webhook of the alerts service) and a button that plays an incident in a simulated home.

The console is in demo mode only when `anxin demo` wrote STATE_DIR/demo-phones.json (mode 0600): the alerts
service's webhook address and the Twilio stand-in's auth token. Anywhere else every route here answers 404."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode
from xml.etree import ElementTree

from fastapi import APIRouter, Form, HTTPException, Request
from pydantic import SecretStr
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from anxin.broker import Credentials, sim_incident_topic
from anxin.db.models import Home, Responder, SmsOutbox
from anxin.mqtt import MqttConnectError, connect_and_wait, make_client
from anxin.registry import credentials_path
from anxin.shards import shard_of
from console.accounts import audit
from console.web import PageUser, SessionDep, SettingsDep, check_csrf, now_utc, redactor, render, require_actor

log = logging.getLogger(__name__)
router = APIRouter(tags=["demo"], include_in_schema=False)
DEMO_FILE = "demo-phones.json"
# What the incident button offers; `anxin sim incident` takes the same names (firmware_sim/live.py).
INCIDENTS = ("long_lie", "fall_short", "night_exit", "door_left_open", "missed_morning", "panic", "agent_offline")
PER_PHONE = 8  # messages shown per responder, newest first
_answers: dict[int, str] = {}  # responder -> the SMS the service answered their last reply with (demo-only memory)


@dataclass(frozen=True)
class DemoPhones:
    """Where the alerts service's SMS webhook is and the auth token Twilio (the stand-in) signs with."""

    webhook: str
    auth_token: SecretStr
    account_sid: str
    service_number: str


def demo_phones(state_dir: Path) -> DemoPhones | None:
    """The demo's Twilio stand-in details, or None when the console does not run in `anxin demo`."""
    try:
        data = json.loads((state_dir / DEMO_FILE).read_text())
        return DemoPhones(data["webhook"], SecretStr(data["auth_token"]), data["account_sid"], data["from"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _demo_or_404(settings: object) -> DemoPhones:
    phones = demo_phones(settings.state_dir)  # type: ignore[attr-defined]
    if phones is None:
        raise HTTPException(404, "not found")
    return phones


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature as Twilio computes it: HMAC-SHA1 of the URL and the sorted form pairs, base64."""
    payload = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


@dataclass(frozen=True)
class PhoneMessage:
    """One SMS on a responder's phone."""

    at: object
    body: str
    status: str


@dataclass(frozen=True)
class Phone:
    """A responder's phone: who, a masked number, their newest SMS and the service's answer to their last reply."""

    id: int
    name: str
    role: str
    number: str | None
    messages: list[PhoneMessage]
    answer: str | None


@router.get("/demo/phones")
def phones_page(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """Every responder who was sent an SMS, as their phone shows it, with a box to reply as them."""
    _demo_or_404(settings)
    require_actor(user)
    red = redactor(request, user)
    phones = []
    for r in session.scalars(select(Responder).order_by(Responder.id)):
        rows = session.scalars(
            select(SmsOutbox).where(SmsOutbox.responder_id == r.id).order_by(SmsOutbox.id.desc()).limit(PER_PHONE)
        ).all()
        if not rows:
            continue
        messages = [
            PhoneMessage(m.sent_at or m.created_at, red.text(m.body), m.delivery_status or m.status) for m in rows
        ]
        phones.append(Phone(r.id, r.name, r.role, red.number(r.phone), messages, _answers.get(r.id)))
    return render(request, "demo_phones.html", {"phones": phones})


@router.post("/demo/phones/{responder_id}/reply")
def reply_as(
    request: Request,
    responder_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    body: Annotated[str, Form(min_length=1, max_length=160)],
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    """Send `body` as this responder's SMS reply: to the alerts service's real webhook, signed as Twilio signs."""
    phones = _demo_or_404(settings)
    require_actor(user)
    check_csrf(request, user, csrf)
    responder = session.get(Responder, responder_id)
    if responder is None:
        raise HTTPException(404, "no such responder")
    params = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": phones.account_sid,
        "From": responder.phone,
        "To": phones.service_number,
        "Body": body,
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
    }
    status, text = _post_signed(phones, params)
    _answers[responder_id] = _twiml_message(text) if status == 200 else f"HTTP {status}"
    audit(session, now_utc(), user.actor, "demo_reply", f"responder:{responder_id}", {"status": status})
    session.commit()
    return RedirectResponse(f"/demo/phones#phone-{responder_id}", status_code=303)


def _post_signed(phones: DemoPhones, params: dict[str, str]) -> tuple[int, str]:
    signature = twilio_signature(phones.auth_token.get_secret_value(), phones.webhook, params)
    req = urllib.request.Request(
        phones.webhook,
        data=urlencode(params).encode(),
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status), resp.read(4096).decode(errors="replace")
    except urllib.error.HTTPError as err:
        return int(err.code), ""
    except OSError as err:
        log.warning("demo reply: the alerts webhook did not answer: %s", err)
        return 0, ""


def _twiml_message(xml: str) -> str:
    """The text of a TwiML <Message>, what the phone would receive in answer; empty for an empty <Response/>."""
    try:
        node = ElementTree.fromstring(xml).find("Message")
    except ElementTree.ParseError:
        return ""
    return node.text or "" if node is not None else ""


@router.post("/demo/incident")
def play_incident(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    home: Annotated[str, Form(max_length=64)],
    kind: Annotated[str, Form(max_length=32)],
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    """Ask the demo's simulator to play an incident in a home now, as `anxin sim incident HOME KIND` does."""
    _demo_or_404(settings)
    require_actor(user)
    check_csrf(request, user, csrf)
    if kind not in INCIDENTS or session.get(Home, home) is None or settings.mqtt is None:
        raise HTTPException(400, "unknown home or incident")
    password = Credentials.load(credentials_path(settings.state_dir)).users.get("sim")
    mqtt = settings.mqtt.model_copy(update={"username": "sim", "password": SecretStr(password or "")})
    if settings.shards:  # `anxin demo --cluster`: the home's simulator listens on the home's shard
        shard = shard_of(session, home, settings.shards)
        mqtt = mqtt.model_copy(update={"host": shard.host, "port": shard.port})
    client = make_client(mqtt, f"anxin-console-demo-{secrets.token_hex(4)}")
    try:
        connect_and_wait(client, mqtt, timeout=5)
        client.publish(sim_incident_topic(home), json.dumps({"kind": kind}).encode(), qos=1).wait_for_publish(5)
    except (MqttConnectError, RuntimeError, ValueError) as err:
        log.warning("demo incident %s for %s not sent: %s", kind, home, err)
        raise HTTPException(503, "the simulator's broker did not answer") from err
    finally:
        client.disconnect()
        client.loop_stop()
    audit(session, now_utc(), user.actor, "demo_incident", f"home:{home}", {"kind": kind})
    session.commit()
    return RedirectResponse(f"/homes/{home}?played={kind}#demo", status_code=303)
