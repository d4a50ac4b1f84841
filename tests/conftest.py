"""Fixtures that start real servers on free ports in temp dirs; nothing is mocked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from anxin.db.engine import upgrade
from shell.servers import Broker, InfluxD, VictoriaMetrics, free_port


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A real Mosquitto with the project's generated config, password file and ACLs."""
    b = Broker.start(tmp_path_factory.mktemp("mosquitto"))
    yield b
    b.server.stop()


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxD]:
    """A real InfluxDB 1.x (Debian's influxd) with database `anxin`."""
    server = InfluxD(tmp_path_factory.mktemp("influxd"), free_port()).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """A real VictoriaMetrics, which accepts InfluxDB's v2 write API."""
    server = VictoriaMetrics(tmp_path_factory.mktemp("vm"), free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A migrated SQLite database in a temp dir."""
    url = f"sqlite:///{tmp_path / 'anxin.db'}"
    upgrade(url)
    return url
