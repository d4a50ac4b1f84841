"""Pure escalation, ranking, replies and links: a whole ladder in milliseconds, time passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts import escalation, inhibit, outbox, responders, retry
from alerts.escalation import Expire, Page, PolicyError, Reescalate, Remind
from alerts.replies import LinkError, ReplyKind, parse_reply, sign_link, verify_link

T0 = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
CRIT = escalation.severity_policy(escalation.DEFAULT_POLICY, "critical")


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_ladder_repeats_until_acknowledged_then_reminds_and_reescalates() -> None:
    s = escalation.opened(T0)
    seen = []
    for second in range(0, 1201, 10):
        s, effects = escalation.run_until(s, CRIT, at(second))
        seen += [(second, e) for e in effects]
    assert seen == [
        (0, Page(1, 1)),
        (120, Page(2, 1)),
        (300, Page(3, 1)),
        (600, Page(1, 2)),
        (720, Page(2, 2)),
        (900, Page(3, 2)),
        (1200, Page(1, 3)),
    ]
    s = escalation.acknowledged(s, CRIT, at(1210))
    assert escalation.run_until(s, CRIT, at(1210 + 1799))[1] == []
    s, effects = escalation.run_until(s, CRIT, at(1210 + 1800))
    assert effects == [Remind(1)]
    s, effects = escalation.run_until(s, CRIT, at(1210 + 2400))
    assert effects == [Reescalate(4), Page(1, 4)] and s.state == "notifying"


def test_a_step_that_finds_nobody_passes_on_at_once_but_never_wraps_into_a_new_round() -> None:
    # The rule the service runs (run_until carrying the effects out): nobody on duty anywhere pages steps 1-3 at
    # once, then waits step 3's time before round 2 rather than spinning through rounds.
    s, effects = escalation.run_until(escalation.opened(T0), CRIT, T0, apply=lambda s, e: False)
    assert effects == [Page(1, 1), Page(2, 1), Page(3, 1)] and s.next_at == at(300)
    # Step 1 found people; step 2 finds nobody at 120 s: step 3 is paged at once, then its wait runs.
    s, _ = escalation.run_until(escalation.opened(T0), CRIT, T0, apply=lambda s, e: True)
    s, effects = escalation.run_until(s, CRIT, at(120), apply=lambda s, e: not (isinstance(e, Page) and e.step == 2))
    assert effects == [Page(2, 1), Page(3, 1)] and s.next_at == at(420)


def test_info_alerts_expire_and_page_no_one() -> None:
    info = escalation.severity_policy(escalation.DEFAULT_POLICY, "info")
    s, effects = escalation.run_until(escalation.opened(T0), info, T0)
    assert effects == [] and s.state == "open"
    s, effects = escalation.run_until(s, info, at(86400))
    assert effects == [Expire()] and s.state == "expired"


def test_policy_merge_and_validation() -> None:
    district = {"critical": {"steps": [{"wait_s": 60, "assigned": 1}, {"wait_s": 60, "operator": 1}]}}
    home = {"critical": {"ack_timeout_s": 600}}
    spec = escalation.merge_spec(escalation.DEFAULT_POLICY, district, home)
    pol = escalation.severity_policy(spec, "critical")
    assert [st.wait_s for st in pol.steps] == [60, 60] and pol.ack_timeout_s == 600
    assert escalation.severity_policy(spec, "warning").steps[0].wait_s == 300  # untouched severities keep defaults
    with pytest.raises(PolicyError, match=r"steps\[0\]: unknown field 'neighbours'"):
        escalation.validate_spec({"critical": {"steps": [{"wait_s": 5, "neighbours": 2}]}})
    with pytest.raises(PolicyError, match="wait_s"):
        escalation.validate_spec({"critical": {"steps": [{"wait_s": -1}]}})


def person(rid: int, **kw: object) -> responders.Person:
    base: dict[str, object] = {
        "responder_id": rid,
        "name": f"p{rid}",
        "phone": f"+86139000000{rid:02d}",
        "lang": "zh-CN",
        "role": "volunteer",
        "verified": True,
        "active": True,
        "opted_out": False,
        "district": "D",
        "assigned_priority": 1,
        "distance_km": 1.0,
        "available": True,
        "reliability": 0.5,
    }
    base.update(kw)
    return responders.Person(**base)  # type: ignore[arg-type]


def test_ranking_by_distance_and_reliability_never_off_duty() -> None:
    people = [
        person(1, distance_km=0.2, reliability=0.1),  # next door but never answers
        person(2, distance_km=0.8, reliability=0.9),
        person(3, distance_km=0.1, available=False),  # off duty
        person(4, distance_km=0.1, verified=False),
        person(5, distance_km=0.1, opted_out=True),
        person(6, assigned_priority=None, distance_km=0.3),  # district volunteer
        person(7, role="grid_worker", assigned_priority=None),
        person(8, role="operator", district=None, assigned_priority=None),
    ]
    chosen = responders.select(people, {"assigned": 1}, "D")
    assert [p.responder_id for p in chosen] == [2]
    chosen = responders.select(people, {"assigned": 5, "nearby": 1, "grid_worker": 1}, "D", exclude={2})
    assert sorted(p.responder_id for p in chosen) == [1, 6, 7]
    assert [p.responder_id for p in responders.select(people, {"operator": 1}, "D")] == [8]


def test_availability_windows_cross_midnight() -> None:
    sh = ZoneInfo("Asia/Shanghai")
    night = [{"days": [2], "start": "22:00", "end": "06:00"}]  # Wednesday night shift
    wed_23 = datetime(2024, 5, 1, 23, 0, tzinfo=sh)  # a Wednesday
    assert responders.is_available(night, wed_23, sh)
    assert responders.is_available(night, wed_23 + timedelta(hours=6), sh)  # Thursday 05:00
    assert not responders.is_available(night, wed_23 + timedelta(hours=8), sh)
    assert not responders.is_available([{"days": [0], "start": "bad", "end": "09:00"}], wed_23, sh)
    assert responders.is_available(None, wed_23, sh)


@pytest.mark.parametrize(
    ("body", "kind", "code"),
    [
        ("K7MP3", ReplyKind.ACK, "K7MP3"),
        ("1 k7mp3", ReplyKind.ACK, "K7MP3"),
        ("１ Ｋ７ＭＰ３", ReplyKind.ACK, "K7MP3"),  # full-width, as many phones send
        ("2K7MP3", ReplyKind.RESOLVE, "K7MP3"),
        ("2 K7MP3.", ReplyKind.RESOLVE, "K7MP3"),
        ("help", ReplyKind.HELP, None),
        ("帮助", ReplyKind.HELP, None),
        ("STOP", ReplyKind.STOP, None),
        ("TD", ReplyKind.STOP, None),
        ("start", ReplyKind.START, None),
        ("1 ABC12", ReplyKind.UNKNOWN, "ABC12"),
        ("on my way", ReplyKind.UNKNOWN, None),
    ],
)
def test_parse_reply(body: str, kind: ReplyKind, code: str | None) -> None:
    r = parse_reply(body)
    assert (r.kind, r.code) == (kind, code)


def test_signed_links() -> None:
    token = sign_link(b"k", 42, 7, at(3600))
    assert len(token) <= 32
    claim = verify_link(b"k", token, T0)
    assert (claim.alert_id, claim.responder_id) == (42, 7)
    for bad, reason in ((token, "expired"),):
        with pytest.raises(LinkError, match=reason):
            verify_link(b"k", bad, at(3601))
    with pytest.raises(LinkError, match="bad_signature"):
        verify_link(b"other", token, T0)
    with pytest.raises(LinkError, match="malformed"):
        verify_link(b"k", "abc", T0)


def test_silences_inhibition_and_rate_limits() -> None:
    class S:
        def __init__(self, category: str, kinds: list[str] | None = None) -> None:
            self.category, self.kinds, self.reason = category, kinds, "r"
            self.starts_at, self.ends_at = T0, at(3600)

    assert inhibit.silence_reason("panic", [S("maintenance")], T0) is None
    assert inhibit.silence_reason("sensor_offline", [S("maintenance")], T0) == "maintenance: r"
    assert inhibit.silence_reason("long_inactivity", [S("away")], T0) == "away: r"
    assert inhibit.silence_reason("long_lie", [S("away")], T0) is None
    assert inhibit.silence_reason("sensor_offline", [S("maintenance")], at(3600)) is None
    assert inhibit.inhibited_by("low_battery", {"agent_offline"}) == "agent_offline"
    assert inhibit.inhibited_by("long_inactivity", {"agent_offline"}) is None  # a device never hides the person
    sends = [at(i) for i in range(5)]
    assert outbox.rate_limited_until(sends[:4], at(10), 5, 60) is None
    assert outbox.rate_limited_until(sends, at(10), 5, 60) == at(60)
    assert retry.retry_at(T0, 1, [5, 30]) == at(5) and retry.retry_at(T0, 9, [5, 30]) == at(30)
