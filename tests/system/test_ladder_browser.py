"""The live ladder in Chromium (issue 15): a help request's alert page shows each rung, who was paged when, their
SMS status, who is next and when; the overview splits "nobody has it yet" from "taken", and both change live
when a volunteer takes it. The ladder is run by the real alerts pipeline on the same database."""

# ruff: noqa: F811  (the console browser test's fixtures, imported, are named as parameters)
from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from alerts import actions
from alerts.notifier import LocalOutboxNotifier
from alerts.pipeline import process_finding
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Assignment, Home, Responder
from contracts.messages import Finding
from contracts.vocabulary import Severity
from tests.support.console_fixtures import Seeded

pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By

from tests.system.test_console_browser import (  # noqa: F401 (fixtures)
    Server,
    _login,
    _page_height,
    _shot,
    _wait,
    browser,
    site,
)

pytestmark = pytest.mark.system


def _volunteers(db_url: str, home: str) -> dict[str, int]:
    """Two verified volunteers assigned to the home and an operator on duty; ids by name."""
    base = 30_000_000 + secrets.randbelow(60_000_000)
    engine = make_engine(db_url)
    ids: dict[str, int] = {}
    with session_factory(engine)() as s, s.begin():
        district = s.get(Home, home).district  # type: ignore[union-attr]
        people = [("Volunteer Chen", "volunteer"), ("Volunteer Zhou", "volunteer"), ("Operator Sun", "operator")]
        for i, (name, role) in enumerate(people):
            r = Responder(
                name=name, phone=f"+86137{base + i:08d}", lang="en", role=role, verified=True, district=district
            )
            s.add(r)
            s.flush()
            ids[name] = r.id
            if role == "volunteer":
                s.add(Assignment(home_id=home, responder_id=r.id, priority=i + 1))
    engine.dispose()
    return ids


def _help_request(db_url: str, home: str) -> int:
    """What the alerts service does with a long press: a help_request alert, step 1 paged (local outbox)."""
    now = datetime.now(UTC)
    f = Finding(
        id="f-help-" + secrets.token_hex(6),
        home=home,
        kind="help_request",
        severity=Severity.WARNING,
        ts=now,
        since=now,
        detector="button",
        evidence={"sensor": "btn1", "press": "long_press"},
    )
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        out = process_finding(s, f, now, LocalOutboxNotifier())
    engine.dispose()
    assert out.alert_id is not None
    return out.alert_id


def _take(db_url: str, alert_id: int, responder_id: int, name: str) -> None:
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        actor = actions.Actor("responder", str(responder_id), name)
        actions.acknowledge(s, alert_id, actor, datetime.now(UTC) + timedelta(seconds=1))
        s.commit()
    engine.dispose()


def _text(d: object, css: str) -> str:
    found = d.find_elements(By.CSS_SELECTOR, css)  # type: ignore[attr-defined]
    return str(found[0].text) if found else ""


def test_live_ladder_and_taken_split_in_chromium(site: tuple[Server, Seeded, str], browser: object) -> None:
    server, seeded, db_url = site
    d, base = browser, server.url
    ids = _volunteers(db_url, seeded.c)
    alert_id = _help_request(db_url, seeded.c)
    _login(d, base, "operator")

    # The overview: the new help request is under "nobody has it yet".
    d.get(f"{base}/homes?lang=en")  # type: ignore[attr-defined]
    untaken = _text(d, "#overview-untaken")
    assert "Nobody has it yet" in untaken and "桂花园 12-3" in untaken and "Help request" in untaken
    assert "Help request" not in _text(d, "#overview-taken")

    # The alert page: step 1 paged both volunteers (SMS in the local outbox), the operator only after the limit.
    d.get(f"{base}/alerts/{alert_id}?lang=en")  # type: ignore[attr-defined]
    ladder = _text(d, "#ladder")
    assert "Nobody has it yet" in ladder and "Round 1, step 1 of 3" in ladder
    assert "Volunteer Chen" in ladder and "Volunteer Zhou" in ladder and "paged" in ladder
    assert "Local outbox" in ladder or "local" in ladder.lower()
    assert "within 25 minutes" in _text(d, "#ladder-operator-after")
    nxt = _text(d, "#ladder-next")
    # Both volunteers are paged already, so step 2 finds nobody and passes on at once: step 3, the operator, is next.
    assert "Next: round 1, step 3" in nxt and "Would page: Operator Sun" in nxt
    assert d.find_elements(By.CSS_SELECTOR, "#ladder .rung.current[data-step='1']")  # type: ignore[attr-defined]
    assert d.find_elements(By.CSS_SELECTOR, "#ladder .rung.unreached[data-step='3']")  # type: ignore[attr-defined]
    _shot(d, "alert-ladder", _page_height(d))

    # A volunteer takes it while the page is open: the ladder says so without a reload.
    d.execute_script("window.__noReload = 7")  # type: ignore[attr-defined]
    _take(db_url, alert_id, ids["Volunteer Chen"], "Volunteer Chen")
    _wait(lambda: "Taken by Volunteer Chen" in _text(d, "#ladder"), timeout=15, what="the ladder turning taken")
    assert "Took it" in _text(d, "#ladder") and "reminder to Volunteer Chen" in _text(d, "#ladder-next")
    assert d.execute_script("return window.__noReload") == 7  # type: ignore[attr-defined]

    # Back on the overview it has moved to "taken", with who took it.
    d.get(f"{base}/homes?lang=en")  # type: ignore[attr-defined]
    taken = _text(d, "#overview-taken")
    assert "桂花园 12-3 · Help request" in taken and "by Volunteer Chen" in taken
    assert "Help request" not in _text(d, "#overview-untaken")  # (the seeded home has another, snoozed, alert)
    _shot(d, "overview-taken-split", _page_height(d))
    d.get(f"{base}/homes?lang=zh-CN")  # type: ignore[attr-defined]
    assert "已有人接手" in _text(d, "#overview-taken")

    # Operators see credit: the page Volunteer Chen answered is a point.
    d.get(f"{base}/responders?lang=en")  # type: ignore[attr-defined]
    row = next(r for r in d.find_elements(By.CSS_SELECTOR, "tbody tr") if "Volunteer Chen" in r.text)  # type: ignore[attr-defined]
    assert row.find_element(By.CSS_SELECTOR, "td.credit").text == "1"
    assert "1 point per page answered" in _text(d, "#credit-rule")
