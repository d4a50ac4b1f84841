"""The registry in headless Chromium, from an empty database: a district, a home with its kit, a resident, a
volunteer, an assignment, then the installer bundle downloaded from a real Mosquitto's account; screenshots too."""

from __future__ import annotations

import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from anxin.db.engine import url_session
from anxin.db.models import Home, HomeSensor, Resident, Responder
from anxin.settings import MqttSettings
from console.app import create_app
from shell.servers import InfluxD, free_port
from tests.integration.test_registry import accounts
from tests.support import edge_fixtures
from tests.support.console_fixtures import console_settings
from tests.support.edge_fixtures import EdgeBroker
from tests.support.waiting import wait_for

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from tests.system.test_console_browser import CHROMEDRIVER, CHROMIUM, _login, _main_text, _shot, _wait  # noqa: E402

edge_broker = edge_fixtures.edge_broker  # a fixture
pytestmark = pytest.mark.system


@pytest.fixture
def console_url(db_url: str, influxd: InfluxD, edge_broker: EdgeBroker, tmp_path: Path) -> Iterator[str]:
    """The console on an empty registry (one account per role), adding homes to the test's broker."""
    edge_broker.creds.save()
    accounts(db_url)
    settings = console_settings(
        db_url, influxd.url, broker_state=edge_broker.state, broker_credentials=edge_broker.state / "credentials.json"
    )
    settings.mqtt = MqttSettings(port=edge_broker.port)
    settings.state_dir = tmp_path / "console-state"
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, background=False), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=20, what="uvicorn")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def downloading_browser(tmp_path: Path) -> Iterator[tuple[object, Path]]:
    """Headless Chromium that saves downloads to a folder of the test."""
    profile = tempfile.mkdtemp(prefix="anxin-chromium-")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=1280,1000")
    prefs = {"intl.accept_languages": "en-US,en", "download.default_directory": str(downloads)}
    options.add_experimental_option("prefs", {**prefs, "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver, downloads
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _fill(d: object, fields: dict[str, str]) -> None:
    for element_id, value in fields.items():
        element = d.find_element(By.ID, element_id)  # type: ignore[attr-defined]
        if element.tag_name == "select":
            Select(element).select_by_visible_text(value)
        else:
            element.clear()
            element.send_keys(value)


def _submit(d: object, button: str, expect: str) -> None:
    d.find_element(By.ID, button).click()  # type: ignore[attr-defined]
    _wait(lambda: expect in _main_text(d), timeout=10, what=f"{expect!r} after {button}")


def _downloaded(folder: Path, pattern: str) -> Path | None:
    """A finished download: Chromium creates the file's name empty when it starts and writes to a .crdownload beside
    it, so the name alone appears before the bytes do (a CI run once opened an empty "zip")."""
    if any(folder.glob("*.crdownload")):
        return None
    return next((p for p in folder.glob(pattern) if zipfile.is_zipfile(p)), None)


def test_register_a_district_from_nothing_and_download_the_bundle(
    console_url: str, downloading_browser: tuple[object, Path], db_url: str, edge_broker: EdgeBroker
) -> None:
    d, downloads = downloading_browser
    _login(d, console_url, "operator")
    d.get(f"{console_url}/registry?lang=en")  # type: ignore[attr-defined]
    assert "No districts yet" in _main_text(d)

    _fill(d, {"district-name": "East Lake"})
    _submit(d, "add-district", "East Lake")
    _fill(d, {"home-label": "East Lake Rd 8, 3-501", "home-district": "East Lake", "home-address": "East Lake Rd 8"})
    _fill(
        d,
        {
            "home-kit": "pir_hall motion hall\ndoor_front door entrance\n"
            "panic button bedroom\nbed_mat pressure bedroom bed"
        },
    )
    d.find_element(By.ID, "add-home").click()  # type: ignore[attr-defined]
    _wait(lambda: "/registry/homes/h-" in d.current_url, timeout=10, what="the new home's install page")  # type: ignore[attr-defined]
    home = d.current_url.split("/registry/homes/")[1].split("?")[0]  # type: ignore[attr-defined]
    assert "broker=down" not in d.current_url  # type: ignore[attr-defined]
    assert "waiting" in _main_text(d) and "door_front" in _main_text(d)

    d.get(f"{console_url}/registry?lang=en")  # type: ignore[attr-defined]
    _fill(d, {"resident-name": "Zhang Xiuying", "resident-phone": "+8613711112222"})
    _fill(d, {"resident-contacts": "Zhang Li, daughter, +8613633334444"})
    d.find_element(By.ID, "resident-consent").click()  # type: ignore[attr-defined]
    _submit(d, "add-resident", "Zhang Xiuying")
    _fill(d, {"responder-name": "Li Wei", "responder-phone": "+8613912345678", "responder-district": "East Lake"})
    _fill(d, {"responder-skills": "first aid, driving", "responder-availability": "0-4 08:00-20:00"})
    d.find_element(By.ID, "responder-vetted").click()  # type: ignore[attr-defined]
    _submit(d, "add-responder", "first aid, driving")
    _fill(d, {"assign-home": "East Lake Rd 8, 3-501", "assign-responder": "Li Wei", "assign-priority": "1"})
    _submit(d, "add-assignment", "Li Wei (1)")
    _shot(d, "registry", 1800)

    d.get(f"{console_url}/registry/homes/{home}?lang=en")  # type: ignore[attr-defined]
    d.find_element(By.ID, "download-bundle").click()  # type: ignore[attr-defined]
    bundle = _wait(lambda: _downloaded(downloads, "anxin-*.zip"), timeout=15, what="the bundle download")
    with zipfile.ZipFile(bundle) as z:
        toml = z.read("edge.toml").decode()
    assert f'home = "{home}"' in toml and f"port = {edge_broker.port}" in toml and 'password = "' in toml
    d.get(f"{console_url}/registry/homes/{home}?lang=en")  # type: ignore[attr-defined]
    assert "Installer bundle downloaded" in _main_text(d)
    assert d.find_element(By.ID, "download-bundle").get_attribute("disabled")  # type: ignore[attr-defined]
    _shot(d, "registry-install")
    li_id = d.find_element(By.CSS_SELECTOR, "button[id^=unassign-]").get_attribute("id")  # type: ignore[attr-defined]
    _submit(d, li_id, "Nobody assigned yet.")
    assert "uses the deployment's budget" in _main_text(d)
    _fill(d, {"budget": "2"})
    _submit(d, "set-budget", "This home's budget: 2 per 60 days")

    with url_session(db_url) as s:
        assert s.get(Home, home) is not None
        assert len(list(s.query(HomeSensor).filter_by(home_id=home))) == 4
        resident = s.query(Resident).one()
        assert resident.consent and resident.contacts and resident.contacts[0]["relation"] == "daughter"
        assert s.get(Home, home).false_alarm_budget == 2.0  # type: ignore[union-attr]
        li = s.query(Responder).one()
        assert li.verified and li.vetted_by == "operator:operator" and li.skills == ["first aid", "driving"]
        assert li.availability == [{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "20:00"}]
