"""The console in Debian's Chromium, headless, through Selenium and chromedriver: log in, an alert arriving live,
acknowledge and resolve, switch language; saves a screenshot of each page to artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import uvicorn

from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Alert, AlertEvent, DeadLetter
from console.app import create_app
from shell.servers import InfluxD, free_port
from tests.support.console_fixtures import PASSWORD, Seeded, console_settings, seed
from tests.support.waiting import wait_for

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException  # noqa: E402

T = TypeVar("T")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

pytestmark = pytest.mark.system
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# Screenshots go to artifacts/ for review; ANXIN_UPDATE_SCREENSHOTS=1 refreshes the README's in docs/screenshots.
_ROOT = Path(__file__).resolve().parents[2]
SHOTS = _ROOT / ("docs" if os.environ.get("ANXIN_UPDATE_SCREENSHOTS") else "artifacts") / "screenshots"

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("needs Debian's chromium and chromium-driver (apt-get install)", allow_module_level=True)


class Server:
    """The console served by uvicorn in a thread."""

    def __init__(self, db_url: str, influx_url: str) -> None:
        self.port = free_port()
        settings = console_settings(db_url, influx_url, refresh_s=1, stream_poll_s=0.3)
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=20, what="uvicorn")
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def site(db_url: str, influxd: InfluxD) -> Iterator[tuple[Server, Seeded, str]]:
    seeded = seed(db_url, influxd)
    engine = make_engine(db_url)
    with session_factory(engine)() as s, s.begin():
        s.add(
            DeadLetter(
                received_at=datetime.now(UTC),
                topic=f"anxin/v1/homes/{seeded.a}/events",
                reason="invalid",
                detail="door value must be 'open' or 'closed', got 1",
                payload=b'{"v":1,"kind":"door","value":1}',
            )
        )
    engine.dispose()
    with Server(db_url, influxd.url) as server:
        yield server, seeded, db_url


@pytest.fixture
def browser() -> Iterator[object]:
    profile = tempfile.mkdtemp(prefix="anxin-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
        "--lang=en-US",
    ):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _shot(driver: object, name: str, height: int | None = None) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    if height:
        driver.set_window_size(1280, height)  # type: ignore[attr-defined]
    driver.save_screenshot(str(SHOTS / f"{name}.png"))  # type: ignore[attr-defined]
    driver.set_window_size(1280, 1000)  # type: ignore[attr-defined]


def _wait(probe: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    """wait_for, treating a WebDriver error inside the probe (the page being replaced) as "not yet"."""

    def quiet() -> T | None:
        try:
            return probe()
        except WebDriverException:
            return None

    return wait_for(quiet, timeout=timeout, what=what)


def _main_text(driver: object) -> str:
    """The page's main text; empty while the page is being replaced (a form just submitted)."""
    try:
        return str(driver.find_element(By.TAG_NAME, "main").text)  # type: ignore[attr-defined]
    except WebDriverException:
        # Stale element, no such element, or Chromium's "node does not belong to the document": all the same race.
        return ""


def _page_height(driver: object) -> int:
    return min(int(driver.execute_script("return document.documentElement.scrollHeight")), 2400)  # type: ignore[attr-defined]


def _login(driver: object, base: str, username: str) -> None:
    driver.get(f"{base}/login?lang=en")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "username").send_keys(username)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "password").send_keys(PASSWORD)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "login").click()  # type: ignore[attr-defined]
    _wait(lambda: "/login" not in driver.current_url, timeout=10, what="the overview after log-in")  # type: ignore[attr-defined]


def _open_critical_alert(db_url: str, home: str) -> int:
    """What the alerts service does when a panic finding arrives: an open alert and its first timeline entry."""
    now = datetime.now(UTC)
    engine = make_engine(db_url)
    with session_factory(engine)() as s, s.begin():
        alert = Alert(
            home_id=home,
            kind="panic",
            severity="critical",
            state="open",
            code="P4N1",
            opened_at=now,
            updated_at=now,
            since=now - timedelta(seconds=5),
            first_finding_id="f-browser-panic",
            evidence={"button": "panic", "room": "bedroom", "pressed_at": now.isoformat()},
        )
        s.add(alert)
        s.flush()
        s.add(AlertEvent(alert_id=alert.id, at=now, actor="alerts", action="opened", detail={"detector": "panic"}))
        alert_id = alert.id
    engine.dispose()
    return alert_id


def test_operator_flow_in_chromium(site: tuple[Server, Seeded, str], browser: object) -> None:
    server, seeded, db_url = site
    d = browser
    base = server.url
    d.get(f"{base}/homes")  # type: ignore[attr-defined]
    assert "/login" in d.current_url  # type: ignore[attr-defined]
    d.get(f"{base}/login?lang=en")  # type: ignore[attr-defined]
    _shot(d, "login", 700)

    _login(d, base, "operator")
    assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"  # type: ignore[attr-defined]
    _wait(lambda: "on" in d.find_element(By.ID, "live").get_attribute("class"), timeout=10, what="live stream")  # type: ignore[attr-defined]
    row = f'tr[data-home="{seeded.c}"]'
    assert d.find_element(By.CSS_SELECTOR, row).get_attribute("data-state") != "alert"  # type: ignore[attr-defined]
    _shot(d, "overview")

    # An alert arrives while the page is open: the row turns red and a toast appears, with no reload.
    d.execute_script("window.__noReload = 42")  # type: ignore[attr-defined]
    alert_id = _open_critical_alert(db_url, seeded.c)
    _wait(
        lambda: d.find_element(By.CSS_SELECTOR, row).get_attribute("data-state") == "alert",  # type: ignore[attr-defined]
        timeout=15,
        what="the home turning to alert live",
    )
    toast = _wait(lambda: d.find_elements(By.CSS_SELECTOR, ".toast a"), timeout=10, what="the toast")  # type: ignore[attr-defined]
    assert "桂花园 12-3" in toast[0].text and "Panic button" in toast[0].text
    assert d.execute_script("return window.__noReload") == 42  # type: ignore[attr-defined]
    _shot(d, "overview-live-alert")

    toast[0].click()
    _wait(lambda: f"/alerts/{alert_id}" in d.current_url, timeout=10, what="the alert page")  # type: ignore[attr-defined]
    _shot(d, "alert", _page_height(d))
    d.find_element(By.ID, "ack").click()  # type: ignore[attr-defined]
    _wait(lambda: "Acknowledged." in _main_text(d), timeout=10, what="ack")  # type: ignore[attr-defined]
    d.find_element(By.ID, "note").send_keys("Called the daughter; she is on her way.")  # type: ignore[attr-defined]
    d.find_element(By.ID, "add-note").click()  # type: ignore[attr-defined]
    _wait(lambda: "Note added." in _main_text(d), timeout=10, what="note")  # type: ignore[attr-defined]
    Select(d.find_element(By.ID, "outcome")).select_by_value("resident_fine")  # type: ignore[attr-defined]
    d.find_element(By.ID, "resolve").click()  # type: ignore[attr-defined]
    _wait(lambda: "Alert resolved." in _main_text(d), timeout=10, what="resolve")  # type: ignore[attr-defined]
    text = _main_text(d)
    assert "Resident fine" in text and "Called the daughter" in text and "Operator One" in text
    _shot(d, "alert-resolved", _page_height(d))

    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and (alert.state, alert.outcome) == ("resolved", "resident_fine")
    engine.dispose()

    # Keyboard: "/" jumps to the search box on the overview.
    d.get(f"{base}/homes")  # type: ignore[attr-defined]
    d.find_element(By.TAG_NAME, "body").send_keys("/")  # type: ignore[attr-defined]
    assert d.switch_to.active_element.get_attribute("id") == "q"  # type: ignore[attr-defined]

    for name, path in (
        ("home", f"/homes/{seeded.a}"),
        ("alerts", "/alerts"),
        ("responders", "/responders"),
        ("outbox", "/outbox"),
        ("dead-letters", "/dead-letters"),
    ):
        d.get(base + path)  # type: ignore[attr-defined]
        assert "Traceback" not in d.page_source  # type: ignore[attr-defined]
        _shot(d, name, _page_height(d))
    d.get(f"{base}/homes/{seeded.a}")  # type: ignore[attr-defined]
    assert "张秀英" in d.page_source  # type: ignore[attr-defined]

    # Switching language from the header link; the choice sticks on the next page.
    d.find_element(By.CSS_SELECTOR, 'header .lang a[hreflang="zh-CN"]').click()  # type: ignore[attr-defined]
    _wait(lambda: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN", timeout=10, what="zh")  # type: ignore[attr-defined]
    d.get(f"{base}/homes")  # type: ignore[attr-defined]
    assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"  # type: ignore[attr-defined]
    assert "家庭" in d.find_element(By.TAG_NAME, "nav").text  # type: ignore[attr-defined]
    _shot(d, "overview-zh")
    d.get(f"{base}/alerts/{alert_id}")  # type: ignore[attr-defined]
    assert "老人安好" in d.page_source  # type: ignore[attr-defined]
    _shot(d, "alert-zh", _page_height(d))

    # A viewer sees no resident's personal data; an admin sees the audit of all of the above.
    d.delete_all_cookies()  # type: ignore[attr-defined]
    _login(d, base, "viewer")
    d.get(f"{base}/homes/{seeded.a}?lang=en")  # type: ignore[attr-defined]
    assert "张秀英" not in d.page_source and "hard of hearing" not in d.page_source  # type: ignore[attr-defined]
    assert "may not see residents" in d.page_source  # type: ignore[attr-defined]
    d.delete_all_cookies()  # type: ignore[attr-defined]
    _login(d, base, "admin")
    d.get(f"{base}/audit?lang=en")  # type: ignore[attr-defined]
    audit = _main_text(d)
    for what in ("Acknowledged alert", "Resolved alert", "Viewed home", "operator:viewer"):
        assert what in audit, what
    _shot(d, "audit", _page_height(d))
    time.sleep(0)
