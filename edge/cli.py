"""`anxin edge ...`: the agent on a home's Raspberry Pi."""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to `anxin` (the edge agent issue fills this in)."""
