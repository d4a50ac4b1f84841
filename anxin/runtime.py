"""What every service process does the same way: logging, signals, credentials from the state folder."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import SecretStr

from anxin.settings import ConfigError, ServiceSettings, load_settings

S = TypeVar("S", bound=ServiceSettings)


def setup_logging(level: str) -> None:
    """One log format for every service."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True
    )
    for noisy in ("alembic", "urllib3", "twilio.http_client", "httpx", "httpx2", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fill_password(settings: S) -> S:
    """A service account with no password configured takes it from the state folder's credentials file."""
    mqtt = getattr(settings, "mqtt", None)
    if mqtt is None or not mqtt.username or mqtt.password is not None:
        return settings
    path = settings.state_dir / "credentials.json"
    if path.exists():
        users = json.loads(path.read_text())
        if mqtt.username in users:
            mqtt.password = SecretStr(users[mqtt.username])
    return settings


def settings_or_exit(cls: type[S], **overrides: Any) -> S:
    """Load a service's settings, or print what is wrong and exit 2."""
    try:
        return fill_password(load_settings(cls, **overrides))
    except ConfigError as err:
        print(f"anxin: {err}", file=sys.stderr)
        raise SystemExit(2) from err


def run_until_signalled(name: str, target: Callable[[threading.Event], None]) -> None:
    """Run a blocking service until SIGINT or SIGTERM, which set its stop event."""
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        logging.getLogger(name).info("stopping on %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    target(stop)
