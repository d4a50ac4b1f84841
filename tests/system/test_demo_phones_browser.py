"""The demo's phones page in Chromium (issue 15, item 7): a real finding becomes an SMS through the Twilio stand-in,
the volunteer's phone shows it, replying as them goes through the alerts service's real signed webhook, and the
alert is taken. Also: the incident button reaches the simulator's control topic, and none of it exists outside
demo mode."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from anxin.broker import SIM_CONTROL_ROOT, Credentials
from anxin.mqtt import connect_and_wait, make_client
from anxin.registry import credentials_path
from console.app import create_app
from contracts.messages import dump
from contracts.topics import findings_topic
from shell.servers import Broker, InfluxD, free_port
from shell.twilio_standin import TwilioStandin
from tests.integration.test_alerts_service import (
    alerts_of,
    anomaly_publisher,
    finding,
    new_home_id,
    running,
    settings_for,
    twilio_for,
)
from tests.integration.test_alerts_service import seed as seed_home
from tests.support.console_fixtures import console_settings, seed
from tests.support.waiting import wait_for
from tests.system import test_console_browser as chromium
from tests.system.test_console_browser import _login, _shot, _wait

browser = chromium.browser  # the Chromium fixture (skips the module when Chromium is missing)
VOLUNTEER = "+8613800138123"


class DemoConsole:
    """The console with a state folder of its own (demo mode when demo-phones.json is in it)."""

    def __init__(self, db_url: str, influx_url: str, state: Path, broker: Broker) -> None:
        settings = console_settings(db_url, influx_url).model_copy(
            update={"state_dir": state, "mqtt": broker.settings("ingest").model_copy(update={"username": None})}
        )
        self.port = free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DemoConsole:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=20, what="uvicorn")
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def standin() -> Iterator[TwilioStandin]:
    s = TwilioStandin.start()
    yield s
    s.stop()


def test_reply_as_the_volunteer_takes_the_alert(
    broker: Broker, db_url: str, influxd: InfluxD, standin: TwilioStandin, browser: object, tmp_path: Path
) -> None:
    seed(db_url, influxd)  # the console's accounts
    home = new_home_id()
    seed_home(db_url, home, VOLUNTEER, lang="en")
    alerts_port = free_port()
    settings = settings_for(broker, db_url, twilio_for(standin), http_port=alerts_port)
    d = browser
    with DemoConsole(db_url, influxd.url, tmp_path, broker) as console:
        _login(d, console.url, "operator")
        d.get(f"{console.url}/demo/phones")  # type: ignore[attr-defined]
        assert "No such page" in d.title  # type: ignore[attr-defined]  # not a demo: the page does not exist
        (tmp_path / "demo-phones.json").write_text(
            json.dumps(
                {
                    "webhook": f"http://127.0.0.1:{alerts_port}/twilio/sms",
                    "auth_token": standin.auth_token,
                    "account_sid": standin.account_sid,
                    "from": "+15005550006",
                }
            )
        )
        with running(settings), anomaly_publisher(broker) as publish:
            publish(findings_topic(home), dump(finding(home)))
            assert standin.wait_for(lambda rs: len(rs) >= 1, 15)
            code = wait_for(lambda: alerts_of(db_url, home)[0].code, timeout=10, what="the alert's code")
            d.get(f"{console.url}/demo/phones?lang=en")  # type: ignore[attr-defined]

            def volunteer_phone() -> Any:
                """The phone showing this alert's SMS with its reply code (reloaded until it is there)."""
                d.refresh()  # type: ignore[attr-defined]
                return next((p for p in d.find_elements(By.CSS_SELECTOR, ".phone") if code in p.text), None)  # type: ignore[attr-defined]

            phone = _wait(volunteer_phone, what="the volunteer's phone with the alert's SMS")
            assert VOLUNTEER not in d.page_source  # type: ignore[attr-defined]  # the number stays masked
            phone.find_element(By.NAME, "body").send_keys(code)
            phone.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            wait_for(
                lambda: alerts_of(db_url, home)[0].state == "acknowledged", timeout=15, what="the alert taken by SMS"
            )
            answer = _wait(lambda: d.find_element(By.CSS_SELECTOR, ".phone li.answer").text, what="the answer")  # type: ignore[attr-defined]
            assert answer and "HTTP" not in answer, answer
            _shot(d, "demo-phones", 1000)

        # The incident button, on a home's page, reaches the simulator's control topic (as the demo's sim account,
        # whose password the console finds in the state folder's credentials.json, as `anxin demo` writes it).
        creds = Credentials.load(credentials_path(tmp_path))
        creds.users["sim"] = broker.add_user("sim")
        creds.save()
        got: list[tuple[str, Any]] = []
        listener = make_client(broker.settings("sim"), "test-demo-incident")
        listener.on_message = lambda _c, _u, msg: got.append((msg.topic, json.loads(msg.payload)))
        connect_and_wait(listener, broker.settings("sim"))
        listener.subscribe(f"{SIM_CONTROL_ROOT}/incident/+", 1)
        try:
            d.get(f"{console.url}/homes/{home}?lang=en")  # type: ignore[attr-defined]
            Select(d.find_element(By.ID, "demo-kind")).select_by_value("long_lie")  # type: ignore[attr-defined]
            d.find_element(By.ID, "demo-play").click()  # type: ignore[attr-defined]
            wait_for(lambda: got, timeout=10, what="the incident on the control topic")
            assert got[0] == (f"{SIM_CONTROL_ROOT}/incident/{home}", {"kind": "long_lie"})
            _wait(lambda: "played=long_lie" in d.current_url, what="back on the home page")  # type: ignore[attr-defined]
        finally:
            listener.disconnect()
            listener.loop_stop()
