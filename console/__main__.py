"""`python -m console`: the same as `anxin console` (settings from ANXIN_* and the ANXIN_CONFIG file)."""

from __future__ import annotations

import sys

import typer

from console.cli import register

if __name__ == "__main__":
    app = typer.Typer(pretty_exceptions_enable=False)  # tracebacks with locals would print secrets
    register(app)
    sys.exit(app(["console", *sys.argv[1:]], prog_name="anxin"))
