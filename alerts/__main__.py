"""Run the alerts service alone: `python -m alerts` (settings from ANXIN_* env and the ANXIN_CONFIG file)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from alerts.config import AlertsSettings
from alerts.service import run_service
from anxin.db.engine import upgrade
from anxin.mqtt import MqttConnectError
from anxin.settings import ConfigError, load_settings


def main() -> int:
    """Load settings, migrate the database, and run until SIGINT or SIGTERM."""
    try:
        settings = load_settings(AlertsSettings)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    upgrade(settings.database.url)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        run_service(settings, stop)
    except MqttConnectError as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
