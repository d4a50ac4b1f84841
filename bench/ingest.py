"""Ingest benchmark as a script: `python bench/ingest.py [--events N] [--homes N] [--json]` (= `anxin bench ingest`)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.cli import bench_ingest

if __name__ == "__main__":
    import typer

    typer.run(bench_ingest)
