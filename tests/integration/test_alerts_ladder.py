"""The escalation ladder, replies, webhooks, outbox and failures on SQLite and PostgreSQL, against the Twilio
stand-in through the real twilio client. Time is simulated: `now` is passed in, so a whole ladder runs in moments."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alerts import actions
from alerts.actions import ActionError, Actor
from alerts.config import AlertsOptions, AlertsSettings, TwilioSettings
from alerts.notifier import TwilioNotifier
from alerts.outbox import claim
from alerts.pipeline import process_finding, record_finding, send_due, tick
from alerts.replies import LinkMaker
from alerts.track import pending_feedback
from alerts.web.app import create_app
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Alert, AlertEvent, Responder, SmsInbound, SmsOutbox
from anxin.settings import DatabaseSettings
from contracts.messages import Finding, Severity
from shell.twilio_standin import TwilioStandin
from tests.support.alerts_fixtures import World, any_db_url, postgres, seed_world  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

FROM = "+15005550006"
T0 = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
PUBLIC = "https://alerts.example.org"
SECRET = b"test-link-secret"
LINKS = LinkMaker(PUBLIC, SECRET)
BACKOFF = (5.0, 30.0, 120.0, 300.0, 600.0)


@pytest.fixture
def standin() -> Iterator[TwilioStandin]:
    s = TwilioStandin.start()
    yield s
    s.stop()


def twilio_for(standin: TwilioStandin, timeout_s: float = 10.0) -> TwilioSettings:
    return TwilioSettings(
        account_sid=standin.account_sid,
        auth_token=standin.auth_token,  # type: ignore[arg-type]
        from_number=FROM,
        api_base=standin.url,
        timeout_s=timeout_s,
    )


def notifier_for(standin: TwilioStandin, **kw: Any) -> TwilioNotifier:
    return TwilioNotifier(twilio_for(standin, **kw), status_callback_url=f"{PUBLIC}/twilio/status")


def finding(home: str, kind: str = "panic", severity: Severity = Severity.CRITICAL, at: datetime = T0) -> Finding:
    return Finding(
        id="f-" + secrets.token_hex(8),
        home=home,
        kind=kind,
        severity=severity,
        ts=at,
        since=at - timedelta(minutes=1),
        detector="test",
        evidence={"sensor": "btn1"},
    )


class Env:
    """One database, one stand-in, one notifier, and helpers to read what happened."""

    def __init__(self, db_url: str, standin: TwilioStandin) -> None:
        self.db_url = db_url
        self.standin = standin
        self.engine = make_engine(db_url)
        self.sessions = session_factory(self.engine)
        self.notifier = notifier_for(standin)
        self.world = seed_world(db_url)
        self.now = T0  # the simulated clock, shared with the web app

    def open(self, **kw: Any) -> int:
        with self.sessions() as s:
            out = process_finding(
                s, finding(self.world.home_id, **kw), T0, self.notifier, links=LINKS, backoff_s=BACKOFF
            )
        assert out.action == "opened" and out.alert_id is not None
        return out.alert_id

    def tick(self, seconds: float) -> int:
        self.now = T0 + timedelta(seconds=seconds)
        with self.sessions() as s:
            return tick(s, self.notifier, self.now, links=LINKS, backoff_s=BACKOFF)

    def alert(self, alert_id: int) -> Alert:
        with self.sessions() as s:
            a = s.get(Alert, alert_id)
            assert a is not None
            return a

    def timeline(self, alert_id: int) -> list[AlertEvent]:
        with self.sessions() as s:
            return list(s.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)))

    def outbox(self, alert_id: int | None = None) -> list[SmsOutbox]:
        with self.sessions() as s:
            q = select(SmsOutbox).order_by(SmsOutbox.id)
            if alert_id is not None:
                q = q.where(SmsOutbox.alert_id == alert_id)
            return list(s.scalars(q))

    def sent_to(self) -> list[str]:
        return [r.to or "" for r in self.standin.accepted]

    def app(self) -> TestClient:
        settings = AlertsSettings(
            database=DatabaseSettings(url=self.db_url),
            alerts=AlertsOptions(twilio=twilio_for(self.standin), public_url=PUBLIC),
        )
        return TestClient(create_app(settings, self.sessions, links=LINKS, clock=lambda: self.now), base_url=PUBLIC)

    def reply(self, client: TestClient, from_: str, body: str, token: str | None = None) -> Any:
        from twilio.request_validator import RequestValidator

        params = {"MessageSid": "SM" + secrets.token_hex(16), "From": from_, "To": FROM, "Body": body}
        sig = RequestValidator(token or self.standin.auth_token).compute_signature(f"{PUBLIC}/twilio/sms", params)
        return client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": sig})


@pytest.fixture
def env(any_db_url: str, standin: TwilioStandin) -> Iterator[Env]:  # noqa: F811
    e = Env(any_db_url, standin)
    yield e
    e.engine.dispose()


def test_full_ladder_with_nobody_answering(env: Env) -> None:
    w: World = env.world
    alert_id = env.open()
    # Step 1 at once: the two nearest available verified volunteers assigned to the home, nearest first.
    assert env.sent_to() == [w.near, w.far]
    a = env.alert(alert_id)
    assert (a.state, a.step, a.round) == ("notifying", 1, 1)
    body = env.standin.accepted[0].body or ""
    assert a.code in body and "7-305" in body and "东湖社区" in body and f"{PUBLIC}/l/" in body
    assert "东湖路" not in body  # never the address before acknowledgement
    assert env.standin.accepted[0].status_callback == f"{PUBLIC}/twilio/status"

    assert env.tick(119) == 0  # critical: step 2 after 120 s
    env.tick(120)  # step 2: the third assigned volunteer, a district volunteer, the grid worker
    assert sorted(env.sent_to()[2:]) == sorted([w.third, w.nearby, w.grid])
    env.tick(299)
    assert len(env.sent_to()) == 5
    env.tick(300)  # step 3: the operator on duty
    assert env.sent_to()[5:] == [w.operator]
    env.tick(600)  # nobody answered: round 2 starts again at step 1
    assert env.sent_to()[6:] == [w.near, w.far]
    a = env.alert(alert_id)
    assert (a.state, a.step, a.round) == ("notifying", 1, 2)
    # Never the off-duty or the unvetted volunteer; every page is on the timeline with who and when.
    assert w.off_duty not in env.sent_to() and w.unverified not in env.sent_to()
    paged = [e for e in env.timeline(alert_id) if e.action == "paged"]
    assert [(e.detail["step"], e.detail["round"]) for e in paged] == [(1, 1), (2, 1), (3, 1), (1, 2)]
    assert [e.at - T0 for e in paged] == [
        timedelta(0),
        timedelta(seconds=120),
        timedelta(seconds=300),
        timedelta(seconds=600),
    ]
    assert paged[0].detail["responders"][0]["name"] == "Near Neighbour"
    assert all(r.status == "sent" and r.key.startswith(f"alert:{alert_id}:r") for r in env.outbox(alert_id))


def test_acknowledgement_by_sms_reply_mid_ladder(env: Env) -> None:
    w = env.world
    alert_id = env.open()
    env.tick(120)  # step 2 went out
    code = env.alert(alert_id).code
    client = env.app()
    r = env.reply(client, w.nearby, f"1 {code}")  # the district volunteer paged in step 2 takes it
    assert r.status_code == 200 and code in r.text and "东湖路 8 号" in r.text  # the address, now that it is theirs
    a = env.alert(alert_id)
    assert a.state == "acknowledged" and a.acknowledged_at == T0 + timedelta(seconds=120)
    env.tick(121)
    taken = [m for m in env.standin.accepted if m.body and "District Volunteer" in m.body]
    # Everyone else paged is told who took it, each in their language; the taker is not.
    assert sorted(m.to or "" for m in taken) == sorted([w.near, w.far, w.third, w.grid])
    assert any("was taken by" in (m.body or "") for m in taken)  # the English-speaking neighbour
    before = len(env.sent_to())
    env.tick(300)  # the operator step no longer comes
    assert len(env.sent_to()) == before
    # A second person replying later hears who has it; an unknown code and HELP get helpful answers.
    assert "District Volunteer" in env.reply(client, w.near, code).text
    assert "K7MP3" in env.reply(client, w.near, "HELP").text
    assert "未找到" in env.reply(client, w.near, "1 XXXXX").text
    with env.sessions() as s:
        responder = s.scalars(select(Responder).where(Responder.phone == w.nearby)).one()
        assert responder.ack_count == 1 and responder.notified_count == 1
    # Acknowledged but unresolved: a reminder to the taker after 30 min, then a re-escalation 10 min later.
    ack_at = 120
    env.tick(ack_at + 1800)
    assert env.sent_to()[-1] == w.nearby and "2 " + code in (env.standin.accepted[-1].body or "")
    env.tick(ack_at + 1800 + 600)
    a = env.alert(alert_id)
    assert (a.state, a.round, a.step) == ("notifying", 2, 1)
    assert env.sent_to()[-2:] == [w.near, w.far]
    actions_seen = [e.action for e in env.timeline(alert_id)]
    assert actions_seen.count("acknowledged") == 1 and "reminded" in actions_seen and "reescalated" in actions_seen
    # "2 <code>" resolves it as fine; anomaly hears the verdict; a stale code later gets a helpful answer.
    assert "老人安好" in env.reply(client, w.nearby, f"2 {code}").text
    a = env.alert(alert_id)
    assert (a.state, a.outcome) == ("resolved", "resident_fine")
    with env.sessions() as s:
        [fb] = pending_feedback(s)
    assert (fb.alert_id, fb.outcome, fb.home, fb.kind) == (alert_id, "resident_fine", w.home_id, "panic")
    assert "结束" in env.reply(client, w.near, code).text


def test_forged_webhook_is_refused(env: Env) -> None:
    alert_id = env.open()
    code = env.alert(alert_id).code
    client = env.app()
    forged = env.reply(client, env.world.near, code, token="not-the-auth-token")
    assert forged.status_code == 403
    unsigned = client.post("/twilio/sms", data={"MessageSid": "SMx", "From": env.world.near, "Body": code})
    assert unsigned.status_code == 403
    status = client.post("/twilio/status", data={"MessageSid": "SMx", "MessageStatus": "failed"})
    assert status.status_code == 403
    assert env.alert(alert_id).state == "notifying"
    with env.sessions() as s:
        assert s.scalars(select(SmsInbound)).all() == []
    assert env.reply(client, env.world.near, code).status_code == 200  # the genuine one works
    assert env.alert(alert_id).state == "acknowledged"


def test_twilio_failing_for_ten_minutes(env: Env) -> None:
    env.standin.fail_all(503)
    alert_id = env.open()
    assert env.sent_to() == []
    for second in range(5, 601, 5):  # the service's clock ticks; Twilio keeps failing for ten minutes
        if second == 300:
            env.standin.fail_all(429)  # then it starts rate limiting us instead
        env.tick(second)
    assert env.sent_to() == []
    rows = env.outbox(alert_id)
    assert rows and all(r.status == "pending" for r in rows)  # retryable: nothing given up on
    assert [r.attempts for r in rows[:2]] == [5, 5]  # backoff 5, 30, 120, 300 s: tries at 0, 5, 35, 155, 455 s
    assert all(r.error and ("503" in r.error or "429" in r.error) for r in rows)
    env.standin.recover()
    for second in range(605, 1300, 5):
        env.tick(second)
    rows = env.outbox(alert_id)
    pages = [r for r in rows if r.purpose == "page"]
    # Every page went out exactly once in the end, nothing failed for good, and the ladder kept climbing meanwhile.
    assert all(r.status == "sent" for r in pages)
    assert len(env.sent_to()) == len(set((r.to, r.body) for r in env.standin.accepted)) == len(pages)
    assert {r.step for r in pages} >= {1, 2, 3}
    assert sum(e.action == "sms_failed" for e in env.timeline(alert_id)) >= len(pages)


def test_timeouts_are_retried(env: Env) -> None:
    env.notifier = notifier_for(env.standin, timeout_s=0.3)
    env.standin.delay(1.0)
    alert_id = env.open()
    rows = env.outbox(alert_id)
    assert all(r.status == "pending" and "network" in (r.error or "") for r in rows)
    env.standin.recover()
    env.tick(5)
    assert all(r.status == "sent" for r in env.outbox(alert_id))


def test_crash_between_outbox_write_and_send(env: Env) -> None:
    w = env.world
    # (a) The finding is recorded and its SMS written, then the process dies before sending: the next one sends it.
    with env.sessions() as s:
        out = record_finding(s, finding(w.home_id), T0, links=LINKS)
    assert out.alert_id is not None and len(out.outbox_ids) == 2
    assert env.standin.accepted == []
    env.tick(1)
    assert sorted(env.sent_to()) == sorted([w.near, w.far])
    # (b) The next step's SMS is claimed and reaches Twilio, and the process dies before writing down the result.
    with env.sessions() as s:
        s2 = record_finding(s, finding(w.home_id, kind="long_lie", severity=Severity.WARNING), T0, links=LINKS)
    assert s2.outbox_ids
    oid = s2.outbox_ids[0]
    with env.sessions() as s:
        assert claim(s, oid, "crashed-worker", T0, lease_s=60)
        row = s.get(SmsOutbox, oid)
        assert row is not None
        env.notifier.send(row.to_number, row.body, row.key)  # accepted by Twilio; the result is never recorded
    assert len(env.standin.accepted) == 3
    env.tick(30)  # the lease still holds: nobody touches it
    env.tick(61)  # the lease ran out: Twilio is asked and says it has the message, so it is not sent again
    row = next(r for r in env.outbox(s2.alert_id) if r.id == oid)
    assert row.status == "sent" and row.provider_sid == env.standin.accepted[2].sid
    posts = [r for r in env.standin.accepted if r.to == row.to_number and r.body == row.body]
    assert len(posts) == 1
    assert any(e.detail.get("recovered") for e in env.timeline(s2.alert_id or 0))
    assert all(r.status == "sent" for r in env.outbox(s2.alert_id))


def test_permanent_failure_moves_to_the_next_person_at_once(env: Env) -> None:
    w = env.world
    env.standin.reject(w.near, 21211)
    alert_id = env.open()
    env.tick(0)
    # near fails for good: the next best person of step 1 (third, assigned) is paged at once, not 120 s later.
    assert sorted(env.sent_to()) == sorted([w.far, w.third])
    failed = [r for r in env.outbox(alert_id) if r.status == "failed"]
    assert len(failed) == 1 and failed[0].to_number == w.near and w.near not in (failed[0].error or "")
    # A delivery callback saying a page never arrived does the same.
    far_sid = next(r.sid for r in env.standin.accepted if r.to == w.far)
    with env.sessions() as s:
        from alerts.pipeline import record_status

        assert record_status(s, far_sid or "", "undelivered", "30003", T0 + timedelta(seconds=5), LINKS)
    env.tick(5)
    assert w.nearby in env.sent_to() or w.grid in env.sent_to() or w.operator in env.sent_to()


def test_per_number_rate_limit(env: Env) -> None:
    from alerts.outbox import queue_sms

    with env.sessions() as s:
        for i in range(7):
            queue_sms(
                s,
                key=f"burst:{i}",
                to=env.world.near,
                lang="en",
                body=f"m{i}",
                now=T0,
                purpose="reply",
                alert_id=None,
                responder_id=None,
            )
        s.commit()
        assert (
            send_due(s, env.notifier, T0, backoff_s=BACKOFF, max_attempts=3, rate_per_number=5, rate_window_s=60) == 5
        )
        assert send_due(s, env.notifier, T0 + timedelta(seconds=30), backoff_s=BACKOFF, max_attempts=3) == 0
        assert send_due(s, env.notifier, T0 + timedelta(seconds=61), backoff_s=BACKOFF, max_attempts=3) == 2
    assert len(env.sent_to()) == 7


def test_mobile_page_link(env: Env) -> None:
    alert_id = env.open()
    body = env.standin.accepted[0].body or ""
    path = body[body.index(PUBLIC) + len(PUBLIC) :].split()[0]
    client = env.app()
    page = client.get(path)
    assert page.status_code == 200 and "7-305" in page.text and "我来处理" in page.text and "东湖路" not in page.text
    assert client.get(path + "?lang=en").text.count("I&#39;ve got it") == 1
    done = client.post(path + "/ack", follow_redirects=True)
    assert done.status_code == 200 and "东湖路 8 号" in done.text
    assert env.alert(alert_id).state == "acknowledged"
    resolved = client.post(path + "/resolve", data={"outcome": "needed_help"}, follow_redirects=True)
    assert resolved.status_code == 200
    assert (env.alert(alert_id).state, env.alert(alert_id).outcome) == ("resolved", "needed_help")
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert client.get(tampered).status_code == 403
    expired = LinkMaker(PUBLIC, SECRET, ttl=timedelta(seconds=-60)).make(alert_id, 1, T0)
    assert client.get(expired.removeprefix(PUBLIC)).status_code == 410


def test_console_actions_silences_and_notes(env: Env) -> None:
    w = env.world
    op = Actor("operator", "op-1", "Operator Wang")
    with env.sessions() as s:
        actions.silence_home(s, w.home_id, op, T0 + timedelta(hours=2), "installer visit", T0)
        s.commit()
        held = record_finding(s, finding(w.home_id, kind="long_inactivity", severity=Severity.WARNING), T0, links=LINKS)
        panic = record_finding(s, finding(w.home_id), T0, links=LINKS)
    assert held.outbox_ids == () and env.alert(held.alert_id or 0).state == "silenced"
    assert len(panic.outbox_ids) == 2  # a panic press is never held
    env.tick(0)
    with env.sessions() as s:
        actions.acknowledge(s, panic.alert_id or 0, op, T0 + timedelta(seconds=30))
        actions.add_note(s, panic.alert_id or 0, op, "called the daughter", T0 + timedelta(seconds=40))
        with pytest.raises(ActionError) as err:
            actions.resolve(s, panic.alert_id or 0, op, "not-an-outcome", T0)
        assert err.value.code == "invalid"
        actions.resolve(s, panic.alert_id or 0, op, "false_alarm", T0 + timedelta(seconds=60), note="test press")
        s.commit()
        with pytest.raises(ActionError) as err:
            actions.acknowledge(s, panic.alert_id or 0, op, T0)
        assert err.value.code == "already_resolved"
        with pytest.raises(ActionError) as err:
            actions.resolve(s, 10**6, op, "false_alarm", T0)
        assert err.value.code == "not_found"
    timeline = env.timeline(panic.alert_id or 0)
    assert [e.action for e in timeline if e.actor == "operator:op-1"] == ["acknowledged", "note", "resolved"]
    env.tick(61)
    closed = [m for m in env.standin.accepted if m.body and ("taken by" in m.body or "已由" in m.body)]
    assert sorted(m.to or "" for m in closed) == sorted([w.near, w.far])
    # The silence ends: the held alert expires with it.
    env.tick(2 * 3600 + 1)
    assert env.alert(held.alert_id or 0).state == "expired"
