"""`anxin sim generate` benchmark: wall time for homes x days, against writing as many CSV rows in the same run.

`python bench/sim_generate.py [--homes 20] [--days 60]` (part of `anxin bench sim`). Cases: the generator with one
worker process per CPU (what `anxin sim generate` does), the generator in one process, and the baseline: the same
number of rows of the same shape written with the csv module into as many files, with no model behind them.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def baseline(out: Path, homes: int, rows: int) -> float:
    """Write `rows` CSV rows shaped like events.csv, spread over `homes` files; returns seconds."""
    t0 = time.perf_counter()
    per = rows // homes
    for h in range(homes):
        folder = out / f"h-{h:012x}"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "events.csv", "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(("ts", "sensor", "kind", "value", "room"))
            for i in range(per + (1 if h < rows % homes else 0)):
                s = i * 7 % 86400
                w.writerow(
                    (f"2025-03-03T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{i % 1000:03d}", "pir_kitchen",
                     "motion", i % 2, "kitchen")
                )  # fmt: skip
    return time.perf_counter() - t0


def main() -> None:
    """Time the generator and the baseline, print ratios."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--homes", type=int, default=20)
    ap.add_argument("--days", type=int, default=60)
    a = ap.parse_args()
    from firmware_sim.files import generate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        results = generate(root / "jobs", a.homes, a.days, 1, date(2025, 3, 3))
        par = time.perf_counter() - t0
        t0 = time.perf_counter()
        generate(root / "one", a.homes, a.days, 1, date(2025, 3, 3), jobs=1)
        one = time.perf_counter() - t0
        rows = sum(r.events for r in results)
        labels = sum(r.labels for r in results)
        base = baseline(root / "base", a.homes, rows)
    print(f"sim generate: {a.homes} homes x {a.days} days = {rows} events, {labels} labelled incidents")
    print(f"  baseline, {rows} CSV rows written with the csv module, no model: {base:.2f} s")
    print(f"  generate, one process per CPU: {par:.2f} s = {par / base:.1f} x baseline ({rows / par:,.0f} events/s)")
    print(f"  generate, one process:         {one:.2f} s = {one / base:.1f} x baseline ({rows / one:,.0f} events/s)")
    print(f"  issue target: under 60 s -> {'met' if par < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
