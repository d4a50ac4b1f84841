"""`anxin bench anomaly`: replay throughput and state per home, as ratios against baselines measured in the same run."""

from __future__ import annotations

import csv
import io
import random
import sys
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script (`python bench/NAME.py`), the repository root is not on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anomaly.recording import read_rows
from anomaly.replay import replay
from anomaly.store import freeze, thaw

ROOMS = ("bedroom", "bathroom", "kitchen", "living", "entrance")
STATE_TARGET = 32 * 1024
RATE_TARGET = 50_000


def synth_csv(days: int, seed: int) -> str:
    """A plausible home's events as CSV text: sleep with toilet visits, rooms by day, PIRs with hold times, outings."""
    rng = random.Random(seed)
    out = io.StringIO()
    out.write("ts,sensor,kind,value,room\n")
    t0 = datetime(2025, 3, 3)
    hold = {r: timedelta(seconds=rng.choice((30, 60, 90))) for r in ROOMS}
    for d in range(days):
        day = t0 + timedelta(days=d)
        t = day + timedelta(hours=rng.gauss(6.8, 0.4))
        bed = day + timedelta(hours=rng.gauss(22.0, 0.4))
        outing = day + timedelta(hours=rng.uniform(9, 16)) if rng.random() < 0.7 else None
        room = "bedroom"
        while t < bed:
            if outing is not None and t >= outing:
                out.write(f"{t.isoformat()},front_door,door,open,entrance\n")
                out.write(f"{(t + timedelta(seconds=10)).isoformat()},front_door,door,closed,entrance\n")
                t += timedelta(minutes=rng.uniform(30, 120))
                out.write(f"{t.isoformat()},front_door,door,open,entrance\n")
                out.write(f"{(t + timedelta(seconds=10)).isoformat()},front_door,door,closed,entrance\n")
                t += timedelta(seconds=20)
                outing = None
            out.write(f"{t.isoformat()},pir_{room},motion,1,{room}\n")
            out.write(f"{(t + hold[room]).isoformat()},pir_{room},motion,0,{room}\n")
            t += hold[room] + timedelta(seconds=rng.expovariate(1 / 200))
            if rng.random() < 0.15:
                room = rng.choice(ROOMS[:4])
        out.write(f"{bed.isoformat()},pir_bedroom,motion,1,bedroom\n")
        if rng.random() < 0.7:
            v = day + timedelta(days=1, hours=rng.uniform(1, 4))
            for r in ("bedroom", "bathroom", "bedroom"):
                out.write(f"{v.isoformat()},pir_{r},motion,1,{r}\n")
                v += timedelta(minutes=rng.uniform(1, 4))
    text = out.getvalue()
    # Rows were written in generation order; a real CSV is in time order.
    header, *rows = text.splitlines()
    rows.sort()
    return header + "\n" + "\n".join(rows) + "\n"


@dataclass
class BenchResult:
    """Measured numbers of one run."""

    events: int
    baseline_eps: float
    replay_eps: float
    homes: int
    state_mean: float
    state_p99: float
    state_max: int
    memory_per_home: float
    long_state: int
    csv_bytes_per_home_day: float

    def lines(self) -> list[str]:
        """The report."""
        return [
            f"replay: {self.events} events in one process (one core)",
            f"  baseline (csv.reader + datetime.fromisoformat per row): {self.baseline_eps:,.0f} events/s",
            f"  anxin replay (parse + engine + ticks):                  {self.replay_eps:,.0f} events/s",
            f"  ratio replay/baseline: {self.replay_eps / self.baseline_eps:.2f}; target >= {RATE_TARGET:,} events/s:"
            f" {'met' if self.replay_eps >= RATE_TARGET else 'NOT met'} ({self.replay_eps / RATE_TARGET:.2f}x)",
            f"state over {self.homes} homes (20 distinct homes learned over 14 days, copied; pickled + zlib):",
            f"  mean {self.state_mean:,.0f} B, p99 {self.state_p99:,.0f} B, max {self.state_max:,} B;"
            f" after 60 days one home: {self.long_state:,} B",
            f"  in memory (tracemalloc over the homes): {self.memory_per_home:,.0f} B per home",
            f"  ratio to the 32 KB target: max {self.state_max / STATE_TARGET:.3f}, in memory"
            f" {self.memory_per_home / STATE_TARGET:.3f}; ratio to one home-day of CSV"
            f" ({self.csv_bytes_per_home_day:,.0f} B): {self.state_mean / self.csv_bytes_per_home_day:.2f}",
        ]


def _baseline(text: str) -> int:
    n = 0
    fromiso = datetime.fromisoformat
    reader = csv.reader(io.StringIO(text))
    next(reader)
    for rec in reader:
        fromiso(rec[0]).replace(tzinfo=UTC).timestamp()
        n += 1
    return n


def run(homes: int = 10_000, days: int = 14, replay_days: int = 60, seed: int = 7) -> BenchResult:
    """Measure replay throughput on one long home and state size over many homes."""
    text = synth_csv(replay_days, seed)
    best_base = best_replay = 0.0
    events = 0
    for _ in range(3):
        t = time.perf_counter()
        events = _baseline(text)
        best_base = max(best_base, events / (time.perf_counter() - t))
        t = time.perf_counter()
        res = replay(list(read_rows(io.StringIO(text))))
        best_replay = max(best_replay, res.events / (time.perf_counter() - t))
    long_state = len(freeze(res.monitor))
    # Many homes: a few distinct learned homes, each copied (thawed from its checkpoint) into independent objects.
    learned = [
        replay(list(read_rows(io.StringIO(synth_csv(days, seed + i)))), f"h-bench{i:06d}").monitor for i in range(20)
    ]
    blobs = [freeze(m) for m in learned]
    csv_day = sum(len(synth_csv(days, seed + i)) for i in range(3)) / 3 / days
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    monitors: list[Any] = [thaw(blobs[h % len(blobs)]) for h in range(homes)]
    in_memory = (tracemalloc.get_traced_memory()[0] - before) / homes
    tracemalloc.stop()
    sizes = sorted(len(freeze(m)) for m in monitors)
    return BenchResult(
        events=events,
        baseline_eps=best_base,
        replay_eps=best_replay,
        homes=homes,
        state_mean=sum(sizes) / len(sizes),
        state_p99=float(sizes[int(0.99 * (len(sizes) - 1))]),
        state_max=sizes[-1],
        memory_per_home=in_memory,
        long_state=long_state,
        csv_bytes_per_home_day=csv_day,
    )


if __name__ == "__main__":
    import sys

    for line in run(homes=int(sys.argv[1]) if len(sys.argv) > 1 else 10_000).lines():
        print(line)
