"""Real servers for tests: a broker whose accounts tests can add, InfluxDB 1.6.7, VictoriaMetrics."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from anxin.broker import SERVICE_ACL, Credentials
from shell.servers import Mosquitto, free_port
from anxin.settings import MqttSettings


@dataclass
class Broker:
    """A running test Mosquitto with its credentials."""

    server: Mosquitto
    creds: Credentials

    @classmethod
    def start(cls, state: Path) -> Broker:
        """Start a broker with every service account."""
        creds = Credentials.load(state / "credentials.json")
        for user in SERVICE_ACL:
            creds.ensure(user)
        server = Mosquitto(state, free_port(), dict(creds.users)).start()
        return cls(server, creds)

    @property
    def port(self) -> int:
        """The broker's port."""
        return self.server.port

    def add_user(self, username: str) -> str:
        """Create an account (a home id or a service) and make the broker load it; returns the password."""
        known = username in self.creds.users
        password = self.creds.ensure(username)
        if not known:
            self.server.reload(dict(self.creds.users))
            time.sleep(0.3)  # SIGHUP reload is asynchronous
        return password

    def settings(self, username: str) -> MqttSettings:
        """Client settings for an account, creating it when new."""
        return MqttSettings(host="127.0.0.1", port=self.port, username=username, password=self.add_user(username))
