# ruff: noqa: F811  (the shared fixtures env, standin, any_db_url are imported, then named as parameters)
"""One-click help, repeat pages, the address only for the taker, and credit (issue 15), on SQLite and PostgreSQL
against the Twilio stand-in through the real twilio client; one test runs the alerts service on real Mosquitto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from alerts import responders
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import EscalationPolicy, Home, Resident, Responder, SmsOutbox
from contracts.messages import dump
from contracts.topics import findings_topic
from contracts.vocabulary import Severity
from shell.servers import Broker
from shell.twilio_standin import TwilioStandin
from tests.integration.test_alerts_ladder import LINKS, PUBLIC, T0, Env, env, finding, standin  # noqa: F401
from tests.integration.test_alerts_service import (
    alerts_of,
    anomaly_publisher,
    outbox_of,
    running,
    settings_for,
    twilio_for,
    wait_until,
)
from tests.support.alerts_fixtures import any_db_url, postgres, seed_world  # noqa: F401

pytestmark = pytest.mark.integration

HELP = "help_request"


def bodies_to(env: Env, phone: str) -> list[str]:
    return [m.body or "" for m in env.standin.accepted if m.to == phone]


def responder(env: Env, phone: str) -> Responder:
    with env.sessions() as s:
        r = s.scalars(select(Responder).where(Responder.phone == phone)).one()
        s.expunge(r)
        return r


def test_help_request_pages_volunteers_with_help_wording_and_the_operator_only_after_the_limit(env: Env) -> None:
    w = env.world
    alert_id = env.open(kind=HELP, severity=Severity.WARNING)
    # Step 1: the two best assigned volunteers, in help wording (not "please check", not a panic).
    assert env.sent_to() == [w.near, w.far]
    zh, en = bodies_to(env, w.near)[0], bodies_to(env, w.far)[0]
    assert "一键呼叫" in zh and "如您能帮忙" in zh and "紧急" in zh  # 非紧急: says it is not an emergency
    assert "asks for help (not an emergency)" in en and "if you can help" in en
    env.tick(599)
    assert len(env.sent_to()) == 2  # the help ladder waits 10 min, not a panic's 2
    env.tick(600)  # step 2: more volunteers, the district's too; never the grid worker or the operator yet
    assert sorted(env.sent_to()[2:]) == sorted([w.third, w.nearby])
    env.tick(1499)
    assert w.operator not in env.sent_to() and w.grid not in env.sent_to()
    env.tick(1500)  # nobody took it within the default limit (25 min): now the operator
    assert env.sent_to()[4:] == [w.operator]
    assert env.alert(alert_id).step == 3


def test_a_districts_help_limit_decides_when_the_operator_is_paged(env: Env) -> None:
    w = env.world
    with env.sessions() as s:
        district = s.get(Home, w.home_id).district  # type: ignore[union-attr]
        spec = {"help": {"steps": [{"wait_s": 120, "assigned": 2}, {"wait_s": 300, "operator": 1}]}}
        s.add(EscalationPolicy(district=district, home_id=None, spec=spec, updated_at=T0))
        s.commit()
    env.open(kind=HELP, severity=Severity.WARNING)
    env.tick(119)
    assert env.sent_to() == [w.near, w.far]
    env.tick(120)
    assert env.sent_to()[2:] == [w.operator]


def test_repeat_pages_say_repeat_and_how_long_open(env: Env) -> None:
    w = env.world
    env.open()  # a panic: critical ladder, round 2 at 600 s
    first_zh = bodies_to(env, w.near)[0]
    assert "重复" not in first_zh
    env.tick(120)
    env.tick(300)
    env.tick(600)
    again_zh, again_en = bodies_to(env, w.near)[-1], bodies_to(env, w.far)[-1]
    # Opened at T0: ten minutes later it is a repeat, and says so in each language.
    assert again_zh.startswith("【重复】已开10分钟") and again_zh != first_zh
    assert again_en.startswith("REPEAT, open 10 minutes.")


def test_the_taker_gets_the_address_by_sms_and_on_the_mobile_page_and_nobody_else_does(env: Env) -> None:
    w = env.world
    alert_id = env.open()
    env.tick(120)  # step 2 too, so there are more people paged
    code = env.alert(alert_id).code
    client = env.app()
    reply = env.reply(client, w.near, code)
    assert "东湖路 8 号 3-501" in reply.text
    env.tick(121)
    others = [m for m in env.standin.accepted if m.to != w.near]
    assert others and all("东湖路" not in (m.body or "") for m in others)
    near, far = responder(env, w.near), responder(env, w.far)
    mine = client.get(f"/l/{LINKS.make(alert_id, near.id, env.now).rsplit('/', 1)[-1]}")
    theirs = client.get(f"/l/{LINKS.make(alert_id, far.id, env.now).rsplit('/', 1)[-1]}")
    assert mine.status_code == 200 and "东湖路 8 号 3-501" in mine.text
    assert theirs.status_code == 200 and "东湖路" not in theirs.text and "Near Neighbour" in theirs.text


def test_help_done_by_sms_with_a_rating_earns_credit(env: Env) -> None:
    w = env.world
    alert_id = env.open(kind=HELP, severity=Severity.WARNING)
    code = env.alert(alert_id).code
    client = env.app()
    before = responder(env, w.near)
    assert "东湖路" in env.reply(client, w.near, f"1 {code}").text
    env.now = T0 + timedelta(minutes=40)
    done = env.reply(client, w.near, f"2 {code} 4")
    assert "求助" in done.text and "信用积分" in done.text
    a = env.alert(alert_id)
    assert (a.state, a.outcome) == ("resolved", "needed_help")
    rated = [e for e in env.timeline(alert_id) if e.action == "rated"]
    assert [e.detail["rating"] for e in rated] == [4]
    after = responder(env, w.near)
    assert (after.ack_count, after.helped_count) == (before.ack_count + 1, before.helped_count + 1)
    assert responders.credit(after.ack_count, after.helped_count) == responders.credit(
        before.ack_count, before.helped_count
    ) + (responders.CREDIT_PER_ANSWER + responders.CREDIT_PER_HELP)
    # A later rating by the taker after it closed is recorded too; someone else's is not.
    assert "评价" in env.reply(client, w.near, f"2 {code} 5").text
    env.reply(client, w.far, f"2 {code} 1")
    assert [e.detail["rating"] for e in env.timeline(alert_id) if e.action == "rated"] == [4, 5]
    from console.queries.alerts import alert_detail
    from console.redaction import Redactor

    with env.sessions() as s:
        shown = alert_detail(s, alert_id, Redactor(b"k", personal=False))
    assert shown is not None and shown.rating == 5  # the console shows the latest rating


def _sent(db_url: str, alert_id: int, at_least: int) -> list[SmsOutbox] | None:
    rows = [r for r in outbox_of(db_url, alert_id) if r.status == "sent"]
    return rows if len(rows) >= at_least else None


def test_a_help_request_over_mosquitto_pages_volunteers_only(
    broker: Broker, db_url: str, standin: TwilioStandin
) -> None:
    w = seed_world(db_url)
    help_finding = finding(w.home_id, kind=HELP, severity=Severity.WARNING, at=datetime.now(UTC))
    with running(settings_for(broker, db_url, twilio_for(standin))), anomaly_publisher(broker) as publish:
        publish(findings_topic(w.home_id), dump(help_finding))
        alert = wait_until(lambda: alerts_of(db_url, w.home_id))[0]
        # Both pages of step 1 out (they are sent one after the other); anything else would show by then too.
        sent = wait_until(lambda: _sent(db_url, alert.id, at_least=2))
    assert alert.kind == HELP
    # Volunteers only, in help wording: the operator and the grid worker are not paged at open.
    assert sorted(r.to_number for r in sent) == sorted([w.near, w.far])
    assert all("如您能帮忙" in r.body or "if you can help" in r.body for r in sent)
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        assert s.scalars(select(Responder.phone).where(Responder.role == "operator")).all()
    engine.dispose()


def test_help_done_on_the_mobile_page_with_a_rating(env: Env) -> None:
    w = env.world
    alert_id = env.open(kind=HELP, severity=Severity.WARNING)
    client = env.app()
    token = LINKS.make(alert_id, responder(env, w.near).id, env.now).rsplit("/", 1)[-1]
    assert client.post(f"/l/{token}/ack", follow_redirects=False).status_code == 303
    env.tick(1)
    # Taken on the page: the taker gets the address by SMS too; the other volunteer paged is told, without it.
    assert "东湖路 8 号 3-501" in bodies_to(env, w.near)[-1]
    assert bodies_to(env, w.far) and all("东湖路" not in b for b in bodies_to(env, w.far))
    page = client.get(f"/l/{token}")
    assert "name=rating" in page.text and "东湖路 8 号 3-501" in page.text
    # A rating outside 1-5 is refused and nothing is closed; 5 is recorded with the outcome.
    assert client.post(f"/l/{token}/resolve", data={"outcome": "needed_help", "rating": "9"}).status_code == 400
    assert env.alert(alert_id).state == "acknowledged"
    done = client.post(f"/l/{token}/resolve", data={"outcome": "needed_help", "rating": "5"}, follow_redirects=False)
    assert done.status_code == 303
    assert env.alert(alert_id).outcome == "needed_help"
    assert [e.detail["rating"] for e in env.timeline(alert_id) if e.action == "rated"] == [5]


def _family(env: Env, *, consent: bool = True) -> tuple[str, str]:
    """A resident of the home with two contacts: a daughter who opted in to SMS, a son who did not."""
    daughter, son = "+86138" + env.world.near[-8:][::-1], "+86138" + env.world.far[-8:][::-1]
    with env.sessions() as s:
        s.add(
            Resident(
                home_id=env.world.home_id,
                full_name="王阿姨",
                consent=consent,
                contacts=[
                    {"name": "Daughter", "relation": "daughter", "phone": daughter, "sms": True, "lang": "en"},
                    {"name": "Son", "relation": "son", "phone": son},
                ],
            )
        )
        s.commit()
    return daughter, son


def test_family_gets_the_open_and_the_closing_sms_and_nothing_else(env: Env) -> None:
    w = env.world
    daughter, son = _family(env)
    alert_id = env.open()
    env.tick(1)  # the family row goes out with the sweep
    told = bodies_to(env, daughter)
    assert len(told) == 1 and "7-305" in told[0] and "panic button pressed" in told[0]
    # Told, not paged: no reply code, no link, no address.
    code = env.alert(alert_id).code
    assert code not in told[0] and "/l/" not in told[0] and "东湖路" not in told[0]
    assert bodies_to(env, son) == []  # did not opt in
    client = env.app()
    env.reply(client, w.near, code)
    env.reply(client, w.near, f"2 {code}")
    env.tick(60)
    told = bodies_to(env, daughter)
    assert len(told) == 2 and "is over: Resident fine" in told[1]
    assert [e.detail["moment"] for e in env.timeline(alert_id) if e.action == "family_told"] == ["opened", "closed"]
    # A second alert of another kind: told again; a device alert: not told at all.
    env.open(kind="long_inactivity", severity=Severity.WARNING)
    env.open(kind="agent_offline", severity=Severity.WARNING)
    env.tick(61)
    assert len(bodies_to(env, daughter)) == 3


def test_no_family_sms_without_the_residents_consent(env: Env) -> None:
    daughter, _ = _family(env, consent=False)
    env.open()
    env.tick(1)
    assert bodies_to(env, daughter) == []


def test_the_consoles_ladder_view_reads_pages_delivery_replies_and_what_is_next(env: Env) -> None:
    from alerts.pipeline import record_status
    from console.queries.alerts import alert_detail
    from console.redaction import Redactor

    w = env.world
    alert_id = env.open()
    env.tick(120)  # step 2
    near_sid = next(m.sid for m in env.standin.accepted if m.to == w.near)
    with env.sessions() as s:
        assert record_status(s, near_sid or "", "delivered", None, T0 + timedelta(seconds=3), LINKS)
    red = Redactor(b"k", personal=True)
    with env.sessions() as s:
        detail = alert_detail(s, alert_id, red)
    assert detail is not None and detail.ladder is not None
    lad = detail.ladder
    assert (lad.round, lad.step, lad.steps, lad.taken) == (1, 2, 3, False)
    first, second = lad.rungs[0], lad.rungs[1]
    statuses = [(p.responder, p.status) for p in first.pages]
    assert statuses == [("Near Neighbour", "delivered"), ("Far Neighbour", "sent")]
    assert first.pages[0].paged_at == T0 and second.current and not lad.rungs[2].reached
    assert sorted(p.responder for p in second.pages) == ["District Volunteer", "Grid Worker", "Third Neighbour"]
    assert lad.next is not None and (lad.next.action, lad.next.step) == ("page", 3)
    assert lad.next.at == T0 + timedelta(seconds=300) and lad.next.names == ["Operator On Duty"]

    env.reply(env.app(), w.far, env.alert(alert_id).code)  # the far neighbour takes it by SMS
    with env.sessions() as s:
        lad2 = alert_detail(s, alert_id, red).ladder  # type: ignore[union-attr]
    assert lad2 is not None and lad2.taken and lad2.taken_by == "Far Neighbour"
    far = next(p for p in lad2.rungs[0].pages if p.responder == "Far Neighbour")
    assert far.took_it and far.reply == "acknowledged" and far.reply_at == env.now
    assert lad2.next is not None and lad2.next.action == "remind"
    assert lad2.next.at == env.now + timedelta(seconds=1800)  # critical: a reminder after 30 min


def test_a_twilio_status_is_recorded_whole(env: Env) -> None:
    # Twilio's longest delivery status is 19 characters; the outbox used to keep 16 ("partially_deli").
    from alerts.pipeline import record_status
    from anxin.db.models import SmsOutbox

    w = env.world
    env.open()
    env.tick(1)
    near_sid = next(m.sid for m in env.standin.accepted if m.to == w.near)
    with env.sessions() as s:
        assert record_status(s, near_sid or "", "partially_delivered", None, T0 + timedelta(seconds=3), LINKS)
    with env.sessions() as s:
        row = s.query(SmsOutbox).filter(SmsOutbox.provider_sid == near_sid).one()
        assert row.delivery_status == "partially_delivered"
