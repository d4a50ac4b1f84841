"""`python -m shell` is the `anxin` command."""

from shell.cli import app

app()
