"""The `anxin` command stands on the floors under it: importing it loads neither bench/ nor tests/."""

from __future__ import annotations

import subprocess
import sys

BENCHES = ("edge", "ingest", "anomaly", "alerts", "console", "sim")


def test_the_command_imports_neither_bench_nor_tests() -> None:
    """Building the whole `anxin` command (every package's commands registered) loads no module of bench/ or tests/."""
    probe = (
        "import sys; import shell.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in ('bench', 'tests')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_bench_help_lists_every_benchmark() -> None:
    """`anxin bench --help` loads bench/ on demand and names each benchmark."""
    out = subprocess.run(
        [sys.executable, "-m", "anxin", "bench", "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    assert "anxin bench" in out.stdout
    for name in BENCHES:
        assert f" {name} " in out.stdout, name


def test_bench_imports_nothing_of_tests() -> None:
    """Every benchmark module imports without tests/ (a benchmark needs no test helper)."""
    probe = (
        "import importlib, sys; "
        "[importlib.import_module('bench.' + m) for m in "
        "('cli', 'alerts', 'anomaly_bench', 'console_overview', 'ingest_bench', 'edge_bench', 'sim_load', "
        "'sim_generate')]; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tests'))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
