"""`python -m alerts`: the same as `anxin alerts` (settings from ANXIN_* and the ANXIN_CONFIG file)."""

from __future__ import annotations

import typer

from alerts.cli import run_alerts

if __name__ == "__main__":
    app = typer.Typer(pretty_exceptions_enable=False)  # tracebacks with locals would print secrets
    app.command()(run_alerts)
    app(prog_name="python -m alerts")
