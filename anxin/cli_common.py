"""Pieces every package's CLI module shares."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file (or ANXIN_CONFIG)")]


def use_config(config: Path | None) -> None:
    """Make a --config file the one every settings class (and every child process) reads."""
    if config is not None:
        os.environ["ANXIN_CONFIG"] = str(config)
