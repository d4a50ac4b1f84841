"""`python -m console`: the same as `anxin console` (settings from ANXIN_* and the ANXIN_CONFIG file)."""

from __future__ import annotations

import sys

from shell.cli import app

if __name__ == "__main__":
    sys.exit(app(["console", *sys.argv[1:]], prog_name="anxin"))
