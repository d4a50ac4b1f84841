"""Alerts benchmark: a finding on MQTT to the SMS request at Twilio, p50/p99, against the bare Twilio client.

`anxin bench alerts` (or `python bench/alerts.py`). Real Mosquitto, real SQLite, the real twilio client and the local
Twilio stand-in; the baseline is the same client posting to the same stand-in with no broker or database, in the same
run. Target (DESIGN.md section 7): p99 <= 2 s for a panic, end to end.
"""

from __future__ import annotations

import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.config import AlertsOptions, AlertsSettings, TwilioSettings
from alerts.notifier import TwilioNotifier
from alerts.service import ServiceStats, run_service
from anxin.db.engine import make_engine, session_factory, upgrade
from anxin.db.models import Assignment, Home, Responder
from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import DatabaseSettings
from contracts.messages import Finding, Severity, dump
from contracts.topics import findings_topic
from shell.servers import Broker
from shell.twilio_standin import TwilioStandin

FROM = "+15005550006"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def seed_homes(db_url: str, ids: list[str], first: int = 0) -> None:
    """One home per id, each with its own verified volunteer assigned; labels and phones numbered from `first`."""
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        for i, hid in enumerate(ids, start=first):
            s.add(Home(id=hid, label=f"{i // 6 + 1}-{101 + i}", district="东湖社区", created_at=datetime.now(UTC)))
            r = Responder(name=f"V{i}", phone=f"+86139{10_000_000 + i:08d}", lang="zh-CN", verified=True, active=True)
            s.add(r)
            s.flush()
            s.add(Assignment(home_id=hid, responder_id=r.id, priority=1))
        s.commit()
    engine.dispose()


def run(findings: int = 200, rate: float = 20.0) -> dict[str, float]:
    """Measure and return the numbers (seconds)."""
    tmp = Path(tempfile.mkdtemp(prefix="anxin-bench-alerts-"))
    standin = TwilioStandin.start()
    broker = Broker.start(tmp / "mosquitto")
    db_url = f"sqlite:///{tmp / 'anxin.db'}"
    upgrade(db_url)
    homes = ["h-" + secrets.token_hex(6) for _ in range(findings)]
    seed_homes(db_url, homes)
    twilio = TwilioSettings(
        account_sid=standin.account_sid,
        auth_token=standin.auth_token,  # type: ignore[arg-type]
        from_number=FROM,
        api_base=standin.url,
    )
    try:
        # Baseline: the bare client, same stand-in, same run.
        notifier = TwilioNotifier(twilio)
        base: list[float] = []
        for i in range(findings):
            t = time.perf_counter()
            assert notifier.send(f"+86138{20_000_000 + i:08d}", "baseline 基线", f"b{i}").ok
            base.append(time.perf_counter() - t)
        settings = AlertsSettings(
            mqtt=broker.settings("alerts"),
            database=DatabaseSettings(url=db_url),
            alerts=AlertsOptions(client_id="bench-alerts", twilio=twilio, http_port=0),
            state_dir=tmp,
        )
        stop, stats = threading.Event(), ServiceStats()
        svc = threading.Thread(target=run_service, args=(settings, stop), kwargs={"stats": stats}, daemon=True)
        svc.start()
        if not stats.ready.wait(20):
            raise RuntimeError("alerts service did not subscribe")
        mq = broker.settings("anomaly")
        pub = make_client(mq, "bench-anomaly")
        connect_and_wait(pub, mq)
        sent_at: dict[str, float] = {}
        before = len(standin.requests)
        t_start = time.time()
        for i, hid in enumerate(homes):
            now = datetime.now(UTC)
            f = Finding(
                id="f-" + secrets.token_hex(8),
                home=hid,
                kind="panic",
                severity=Severity.CRITICAL,
                ts=now,
                since=now - timedelta(seconds=1),
                detector="button",
                evidence={},
            )
            sent_at[f"+86139{10_000_000 + i:08d}"] = time.time()
            pub.publish(findings_topic(hid), dump(f), qos=1).wait_for_publish(5)
            time.sleep(max(0.0, t_start + (i + 1) / rate - time.time()))
        if not standin.wait_for(lambda rs: len(rs) - before >= findings, timeout=60):
            raise RuntimeError(f"only {len(standin.requests) - before} of {findings} SMS requests arrived")
        lat = [r.at - sent_at[r.to or ""] for r in standin.requests[before:] if r.to in sent_at]
        pub.disconnect()
        pub.loop_stop()
        stop.set()
        svc.join(20)
    finally:
        standin.stop()
        broker.server.stop()
    return {
        "findings": float(findings),
        "baseline_p50_s": statistics.median(base),
        "baseline_p99_s": _pct(base, 0.99),
        "p50_s": statistics.median(lat),
        "p99_s": _pct(lat, 0.99),
        "max_s": max(lat),
    }


def main(findings: int = 200, rate: float = 20.0, as_json: bool = False) -> int:
    """Run and print; exit code 1 when p99 misses the 2 s target."""
    r = run(findings, rate)
    if as_json:
        print(json.dumps(r, indent=2))
    else:
        n = int(r["findings"])
        print(f"alerts: {n} panic findings at {rate:g}/s, MQTT -> SQL -> outbox -> twilio client -> stand-in")
        print(
            f"  baseline (bare twilio client to the same stand-in): p50 {r['baseline_p50_s'] * 1000:.1f} ms, "
            f"p99 {r['baseline_p99_s'] * 1000:.1f} ms"
        )
        print(
            f"  finding to SMS request:  p50 {r['p50_s'] * 1000:.1f} ms ({r['p50_s'] / r['baseline_p50_s']:.1f}x), "
            f"p99 {r['p99_s'] * 1000:.1f} ms ({r['p99_s'] / r['baseline_p99_s']:.1f}x), max {r['max_s'] * 1000:.1f} ms"
        )
        print(f"  target p99 <= 2000 ms: {'met' if r['p99_s'] <= 2.0 else 'MISSED'}")
    return 0 if r["p99_s"] <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
