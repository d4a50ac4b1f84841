"""`python -m anxin` is the `anxin` command."""

from shell.cli import app

app()
