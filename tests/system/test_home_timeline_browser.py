"""A home's page in Chromium (issue 15, item 4): the 24-hour timeline drawn from real InfluxDB points, the learned
routine in plain words in both languages (no raw JSON), and chart legends with the alert marked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from selenium.webdriver.common.by import By

from anxin.db.engine import make_engine, session_factory
from anxin.db.models import RoutineSummary
from shell.servers import InfluxD
from tests.support.console_fixtures import seed, write_influx
from tests.system import test_console_browser as chromium
from tests.system.test_console_browser import Server, _login, _shot, _wait

browser = chromium.browser  # the Chromium fixture (skips the module when Chromium is missing)

SUMMARY = {
    "usual_wake": "07:10",
    "late_wake": "08:40",
    "usual_bed": "21:30",
    "stillness": [
        {
            "sensor": "bedmat1",
            "value": "0",
            "held": "",
            "room": "bedroom",
            "hours": "00-06",
            "per_day": 1.4,
            "longest_min": 9,
            "limit_min": 20,
        },
        {
            "sensor": "pir-kitchen",
            "value": "1",
            "held": "",
            "room": "kitchen",
            "hours": "12-18",
            "per_day": 6.0,
            "longest_min": 35,
            "limit_min": 90,
        },
    ],
    "expected_false_alarms_per_60d": 0.4,
    "mat_roles": {"bedmat1": "bed"},
    "night_exit_limit_min": 25,
    "door_open_limit_min": 30,
    "usual_outing_min": 70,
    "presence": "home",
    "asleep": False,
    "feedback_scale": {"long_inactivity": 1.0},
}


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _day_of_events(influxd: InfluxD, home: str, now: datetime) -> None:
    """Kitchen at breakfast, out through the door, the bed mat at night: the points the sensors would send."""
    tags = f"sensor_event,home={home},agent=pi1"
    points = [
        f"{tags},sensor=pir-kitchen,kind=motion,room=kitchen value=1,seq=101i {_ms(now - timedelta(hours=5))}",
        f"{tags},sensor=pir-kitchen,kind=motion,room=kitchen value=1,seq=102i {_ms(now - timedelta(hours=4.9))}",
        f"{tags},sensor=pir-bed,kind=motion,room=bedroom value=1,seq=103i {_ms(now - timedelta(hours=12))}",
        f'{tags},sensor=door1,kind=door,room=entrance value=1,text="open",seq=104i {_ms(now - timedelta(hours=3))}',
        f"{tags},sensor=bedmat1,kind=pressure,room=bedroom value=1,seq=105i {_ms(now - timedelta(hours=20))}",
        f"{tags},sensor=bedmat1,kind=pressure,room=bedroom value=0,seq=106i {_ms(now - timedelta(hours=13))}",
    ]
    write_influx(influxd, points)


def test_home_page_timeline_and_routine_in_words(db_url: str, influxd: InfluxD, browser: object) -> None:
    seeded = seed(db_url, influxd)
    now = datetime.now(UTC)
    _day_of_events(influxd, seeded.a, now)
    engine = make_engine(db_url)
    with session_factory(engine)() as s, s.begin():
        s.add(RoutineSummary(home_id=seeded.a, updated_at=now, days_learned=7, confidence=0.8, summary=SUMMARY))
    engine.dispose()
    d = browser
    with Server(db_url, influxd.url) as server:
        _login(d, server.url, "operator")
        d.get(f"{server.url}/homes/{seeded.a}?lang=en")  # type: ignore[attr-defined]
        card = _wait(lambda: d.find_element(By.ID, "timeline"), what="the timeline")  # type: ignore[attr-defined]
        labels = [e.text for e in card.find_elements(By.CSS_SELECTOR, "svg text.label")]
        assert {"Kitchen", "Bedroom", "Front door", "In bed"} <= set(labels), labels
        spans = card.find_elements(By.CSS_SELECTOR, "svg rect")
        assert len(spans) >= 4  # kitchen, bedroom, the door and the night in bed each drawn
        assert card.find_elements(By.CSS_SELECTOR, "svg g.mark"), "the alert opened 45 min ago is marked"
        legend = card.find_element(By.CSS_SELECTOR, "ul.legend").text
        assert "Front door" in legend and "Finding" in legend
        words = d.find_element(By.ID, "routine-words").text  # type: ignore[attr-defined]
        assert "Usually gets up around 07:10 and goes to bed around 21:30." in words
        assert "longer than 30 minutes raises an alert" in words
        still = d.find_element(By.ID, "stillness-words").text  # type: ignore[attr-defined]
        assert "after the bed mat is released" in still and "alert after 20 min" in still
        assert "movement in the kitchen" in still
        routine_card = d.find_element(By.ID, "h-routine").find_element(By.XPATH, "..")  # type: ignore[attr-defined]
        assert '{"' not in routine_card.text and "usual_wake" not in routine_card.text  # no JSON, no field names
        heat = d.find_elements(By.CSS_SELECTOR, "section[aria-labelledby=h-rooms] ul.legend")  # type: ignore[attr-defined]
        assert heat and "more activity" in heat[0].text
        _shot(d, "home-timeline", 1500)

        d.get(f"{server.url}/homes/{seeded.a}?lang=zh-CN")  # type: ignore[attr-defined]
        words = _wait(lambda: d.find_element(By.ID, "routine-words").text, what="the routine in Chinese")  # type: ignore[attr-defined]
        assert "通常 07:10 左右起床，21:30 左右睡觉。" in words
        still = d.find_element(By.ID, "stillness-words").text  # type: ignore[attr-defined]
        assert "离开床垫之后" in still and "超过 20 分钟报警" in still
        labels = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#timeline svg text.label")]  # type: ignore[attr-defined]
        assert "大门" in labels and "在床上" in labels
