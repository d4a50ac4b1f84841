"""Benchmark: the overview of N homes, served the spine's way (InfluxQL on every request) and from the snapshot.

Both variants run in the same process against the same real InfluxDB (Debian's influxd) and SQLite, and render the
same page; the ratio is what the snapshot buys. Run: `.venv/bin/anxin bench console`.
"""

from __future__ import annotations

import random
import secrets
import statistics
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from anxin.db.engine import make_engine, session_factory, upgrade
from anxin.db.models import Alert, Assignment, Home, Responder
from anxin.settings import DatabaseSettings, InfluxSettings
from console.accounts import create_operator, create_token
from console.app import create_app
from console.config import ConsoleSettings
from console.snapshot import Activity, ActivitySnapshot, read_activity
from contracts.vocabulary import Measurement
from shell.servers import InfluxD, free_port


class PerRequestSnapshot(ActivitySnapshot):
    """The spine's behaviour: every page reads the whole 30-day window from InfluxDB."""

    def get(self) -> Activity:
        return self.refresh(full=True)


def _seed(db_url: str, influx: InfluxD, homes: int, events: int) -> tuple[str, list[str]]:
    now = datetime.now(UTC)
    ids = ["h-" + secrets.token_hex(6) for _ in range(homes)]
    engine = make_engine(db_url)
    with session_factory(engine)() as s, s.begin():
        responders = [
            Responder(name=f"Volunteer {i}", phone=f"+86139{i:08d}", verified=True) for i in range(homes // 5)
        ]
        s.add_all(responders)
        s.flush()
        for i, h in enumerate(ids):
            s.add(
                Home(
                    id=h,
                    label=f"{i // 6 + 1}-{101 + i}",
                    district=f"社区 {i % 12}",
                    created_at=now - timedelta(days=30),
                )
            )
        s.flush()
        s.add_all(Assignment(home_id=h, responder_id=responders[i % len(responders)].id) for i, h in enumerate(ids))
        for i, h in enumerate(ids[: homes // 50]):
            s.add(
                Alert(
                    home_id=h,
                    kind="long_inactivity",
                    severity="critical" if i % 2 else "warning",
                    state="open",
                    code=f"B{i:04d}",
                    opened_at=now,
                    updated_at=now,
                    since=now,
                    first_finding_id=f"bench-{i}",
                    evidence={},
                )
            )
        create_operator(s, "bench", "bench-password-123", "viewer", now)
        token = create_token(s, "bench", "bench", now)
    engine.dispose()
    rng = random.Random(7)
    start_ms = int((now - timedelta(days=2)).timestamp() * 1000)
    lines: list[str] = []

    def flush() -> None:
        req = urllib.request.Request(
            f"{influx.url}/write?db=anxin&precision=ms", data="\n".join(lines).encode(), method="POST"
        )
        with urllib.request.urlopen(req, timeout=120) as resp:
            assert resp.status == 204
        lines.clear()

    for h in ids:
        for k in range(events):
            ts = start_ms + rng.randrange(2 * 86400 * 1000)
            tags = f"{Measurement.SENSOR_EVENT},home={h},agent=pi,sensor=pir{k % 3},kind=motion,room=living"
            lines.append(f"{tags} value=1,seq={k}i {ts}")
        lines.append(f'{Measurement.AGENT_STATUS},home={h},agent=pi online=1i,state="online" {start_ms}')
        lines.append(f"{Measurement.HEARTBEAT},home={h},agent=pi queue_depth=0i,min_battery=80i {start_ms + 1000}")
        if len(lines) > 50_000:
            flush()
    if lines:
        flush()
    return token, ids


def _time(client: TestClient, path: str, token: str, rounds: int) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    client.get(path, headers=headers)  # warm up
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        resp = client.get(path, headers=headers)
        samples.append(time.perf_counter() - t0)
        assert resp.status_code == 200, resp.text[:300]
    return statistics.median(samples)


def main(homes: int = 10_000, events: int = 20, rounds: int = 5) -> int:
    """Seed, measure both variants, print the medians and the ratio; returns an exit code."""
    with tempfile.TemporaryDirectory(prefix="anxin-bench-console-") as tmp:
        root = Path(tmp)
        db_url = f"sqlite:///{root / 'anxin.db'}"
        upgrade(db_url)
        influx = InfluxD(root / "influx", free_port()).start()
        try:
            t0 = time.perf_counter()
            token, _ids = _seed(db_url, influx, homes, events)
            print(f"seeded {homes} homes, {homes * events} events in {time.perf_counter() - t0:.1f}s")
            settings = ConsoleSettings(database=DatabaseSettings(url=db_url), influx=InfluxSettings(url=influx.url))
            results: dict[str, dict[str, float]] = {}
            for name in ("baseline", "snapshot"):
                app = create_app(settings, background=False)
                if name == "baseline":
                    app.state.snapshot = PerRequestSnapshot(app.state.influx, 5)
                with TestClient(app) as client:
                    app.state.snapshot.get()
                    results[name] = {p: _time(client, p, token, rounds) for p in ("/api/homes", "/homes")}
            snap = ActivitySnapshot(create_app(settings, background=False).state.influx, 5)
            full0 = time.perf_counter()
            snap.refresh(full=True)
            full_s = time.perf_counter() - full0
            inc0 = time.perf_counter()
            snap.refresh()
            inc_s = time.perf_counter() - inc0
            read0 = time.perf_counter()
            read_activity(snap.influx, "30d")
            print(f"InfluxQL full read (30 days, background only): {(time.perf_counter() - read0) * 1000:.0f} ms")
        finally:
            influx.stop()
    print(f"overview of {homes} homes, median of {rounds} requests (baseline: InfluxQL per request, as the spine did)")
    for path in ("/api/homes", "/homes"):
        b, s = results["baseline"][path], results["snapshot"][path]
        verdict = "ok" if s < 0.3 else "OVER 300 ms"
        print(
            f"  {path:<11} baseline {b * 1000:7.0f} ms   snapshot {s * 1000:7.0f} ms"
            f"   ratio {b / s:5.1f}x   [{verdict}]"
        )
    print(f"  background refresh: full {full_s * 1000:.0f} ms, incremental {inc_s * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
