"""One-click help, repeat pages and credit (issue 15): the pure rules (ladder, ranking, credit, wording, replies)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts import escalation, responders, templates
from alerts.escalation import Page
from alerts.replies import ReplyKind, parse_reply
from anomaly.engine import Options
from contracts.vocabulary import FindingKind, Severity
from tests.support.anomaly_fixtures import TZ, monitor

T0 = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)


def person(rid: int, *, km: float | None, credit: int = 0, reliability: float = 0.5) -> responders.Person:
    return responders.Person(
        responder_id=rid,
        name=f"p{rid}",
        phone=f"+86139000000{rid:02d}",
        lang="zh-CN",
        role="volunteer",
        verified=True,
        active=True,
        opted_out=False,
        district="d",
        assigned_priority=1,
        distance_km=km,
        available=True,
        reliability=reliability,
        credit=credit,
    )


def test_credit_is_one_per_answer_and_three_per_help() -> None:
    assert responders.credit(0, 0) == 0
    assert responders.credit(5, 2) == 5 * responders.CREDIT_PER_ANSWER + 2 * responders.CREDIT_PER_HELP == 11
    assert responders.credit(-1, -1) == 0  # a bad counter never takes credit away


def test_credit_breaks_near_ties_but_never_outweighs_half_a_km() -> None:
    a, b = person(1, km=1.0), person(2, km=1.0, credit=10)
    assert responders.select([a, b], {"assigned": 1}, "d") == [b]
    # Even a huge credit is capped: someone 0.6 km nearer still comes first.
    far_but_famous, near = person(3, km=2.0, credit=10_000), person(4, km=1.4)
    assert responders.select([far_but_famous, near], {"assigned": 1}, "d") == [near]
    assert responders.rank_key(person(5, km=1.0, credit=10_000))[0] == pytest.approx(
        responders.rank_key(person(5, km=1.0))[0] - responders.CREDIT_WEIGHT_KM
    )


@pytest.mark.parametrize(
    ("kind", "outcome", "helped"),
    [
        ("panic", "needed_help", True),
        ("panic", "emergency_services", True),
        ("panic", "resident_fine", False),
        (FindingKind.HELP_REQUEST.value, "resident_fine", True),
        (FindingKind.HELP_REQUEST.value, "needed_help", True),
        (FindingKind.HELP_REQUEST.value, "false_alarm", False),
        (FindingKind.HELP_REQUEST.value, "device_fault", False),
    ],
)
def test_what_counts_as_help_given(kind: str, outcome: str, helped: bool) -> None:
    assert responders.counts_as_help(kind, outcome) is helped


def test_help_requests_follow_the_help_table_whatever_their_severity() -> None:
    assert escalation.policy_key("help_request", "warning") == escalation.HELP_KEY
    assert escalation.policy_key("help_request", "critical") == escalation.HELP_KEY
    assert escalation.policy_key("panic", "critical") == "critical"
    escalation.validate_spec({"help": {"steps": [{"wait_s": 60, "assigned": 1}]}})  # a district may set it
    with pytest.raises(escalation.PolicyError, match="unknown severity 'helps'"):
        escalation.validate_spec({"helps": {}})


def test_the_help_ladder_pages_volunteers_and_the_operator_only_after_the_limit() -> None:
    pol = escalation.severity_policy(escalation.DEFAULT_POLICY, escalation.HELP_KEY)
    limit = escalation.operator_after_s(pol)
    assert limit == 1500  # 10 + 15 minutes of volunteers
    s = escalation.opened(T0)
    pages: list[tuple[float, Page]] = []
    for second in range(0, 3600, 30):
        s, effects = escalation.run_until(s, pol, T0 + timedelta(seconds=second))
        pages += [(second, e) for e in effects if isinstance(e, Page)]
    operator_at = [sec for sec, p in pages if pol.steps[p.step - 1].counts.get("operator")]
    assert operator_at[0] == limit
    assert all(not pol.steps[p.step - 1].counts.get("grid_worker") for _, p in pages)
    assert escalation.operator_after_s(escalation.severity_policy(escalation.DEFAULT_POLICY, "info")) is None


def test_a_district_override_moves_the_limit() -> None:
    spec = escalation.merge_spec(
        escalation.DEFAULT_POLICY,
        {"help": {"steps": [{"wait_s": 120, "assigned": 2}, {"wait_s": 300, "operator": 1}]}},
    )
    assert escalation.operator_after_s(escalation.severity_policy(spec, "help")) == 120


SMS = {"label": "7-305", "district": "东湖社区", "since": T0, "now": T0, "tz": UTC, "code": "K7MP3"}


@pytest.mark.parametrize("lang", templates.SUPPORTED_LANGS)
def test_help_wording_and_repeat_pages_fit_one_segment(lang: str) -> None:
    help_sms = templates.alert_sms(lang=lang, kind="help_request", **SMS)  # type: ignore[arg-type]
    panic = templates.alert_sms(lang=lang, kind="panic", **SMS)  # type: ignore[arg-type]
    assert help_sms != panic and "K7MP3" in help_sms
    repeat = templates.alert_sms(lang=lang, kind="panic", open_minutes=12, **SMS)  # type: ignore[arg-type]
    assert repeat.endswith(panic) and "12" in repeat[: -len(panic)]
    # One segment still (the label gives way first); an English text with a Chinese district is UCS-2 anyway.
    latin = templates.alert_sms(lang=lang, kind="panic", open_minutes=12, **{**SMS, "district": "Donghu"})  # type: ignore[arg-type]
    assert templates.segments(latin if lang == "en" else repeat) == 1


def test_repeat_counts_in_english_plurals() -> None:
    one = templates.alert_sms(lang="en", kind="panic", open_minutes=1, **SMS)  # type: ignore[arg-type]
    many = templates.alert_sms(lang="en", kind="panic", open_minutes=7, **SMS)  # type: ignore[arg-type]
    assert one.startswith("REPEAT, open 1 minute.") and many.startswith("REPEAT, open 7 minutes.")


@pytest.mark.parametrize(
    ("body", "kind", "code", "rating"),
    [
        ("2 K7MP3", ReplyKind.RESOLVE, "K7MP3", None),
        ("2 K7MP3 4", ReplyKind.RESOLVE, "K7MP3", 4),
        ("２ｋ７ｍｐ３　５", ReplyKind.RESOLVE, "K7MP3", 5),  # full-width, as phones send it
        ("2 K7MP3 9", ReplyKind.UNKNOWN, None, None),  # not a rating: not understood, nothing closed
        ("K7MP3 4", ReplyKind.UNKNOWN, None, None),
    ],
)
def test_a_rating_rides_on_the_resolve_reply(body: str, kind: ReplyKind, code: str | None, rating: int | None) -> None:
    r = parse_reply(body)
    assert (r.kind, r.rating) == (kind, rating)
    if code is not None:
        assert r.code == code


@pytest.mark.parametrize(
    ("value", "kind", "severity"), [("press", "panic", "critical"), ("long_press", "help_request", "warning")]
)
def test_a_long_press_is_a_help_request_and_a_press_a_panic(value: str, kind: str, severity: str) -> None:
    found = monitor(Options(tz=TZ)).observe_at(T0.timestamp(), "btn1", "button", value, "hall", ref="e1")
    raised = [f for f in found if f.kind in ("panic", "help_request")]
    assert [(f.kind, f.severity) for f in raised] == [(kind, Severity(severity))]
    assert raised[0].id.endswith(f":{kind}:e1")


def test_a_help_requests_need_ranks_people_with_that_skill_first() -> None:
    plain, skilled = person(1, km=0.5), replace(person(2, km=1.2), skills=frozenset({"payment", "call_back"}))
    assert responders.select([plain, skilled], {"assigned": 1}, "d") == [plain]
    assert responders.select([plain, skilled], {"assigned": 1}, "d", need="Payment") == [skilled]
    # A skill is worth a km, not a trip across town; an unknown need changes nothing.
    far_skilled = replace(person(3, km=3.0), skills=frozenset({"payment"}))
    assert responders.select([plain, far_skilled], {"assigned": 1}, "d", need="payment") == [plain]
    assert responders.next_in_line([plain, skilled], {"assigned": 1}, "d", (), need="gardening") == plain
