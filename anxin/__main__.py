"""`python -m anxin` is the `anxin` command."""

from anxin.cli import app

app()
