"""`python -m console`: run the operator console with settings from ANXIN_* and ANXIN_CONFIG."""

from __future__ import annotations

import logging
import sys

from anxin.settings import ConfigError, load_settings
from console.config import ConsoleSettings
from console.service import run_service


def main() -> int:
    """Load the settings and serve; a configuration error exits with status 2."""
    try:
        settings = load_settings(ConsoleSettings)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_service(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
