"""The anomaly service against a real Mosquitto and a real SQLite: findings out, feedback in, resume, summaries."""

from __future__ import annotations

import queue
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from anomaly.config import AnomalyOptions, AnomalySettings
from anomaly.service import AnomalyService
from anxin.broker import agent_client_id
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Home, HomeSensor, RoutineSummary
from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import DatabaseSettings
from contracts import Feedback, SensorEvent, dump, events_topic, feedback_topic, parse_finding
from contracts.topics import FINDINGS_FILTER
from shell.servers import Broker
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@contextmanager
def running(settings: AnomalySettings) -> Iterator[AnomalyService]:
    svc = AnomalyService(settings)
    stop = threading.Event()
    th = threading.Thread(target=svc.run, args=(stop,), daemon=True)
    th.start()
    try:
        yield svc
    finally:
        stop.set()
        th.join(timeout=15)
        assert not th.is_alive()


@contextmanager
def built(broker: Broker, db_url: str, tmp_path: Path) -> Iterator[AnomalyService]:
    """The service as made at start (checkpoints restored, the registry read), not running; its checkpoints closed."""
    settings = AnomalySettings(
        mqtt=broker.settings("anomaly"),
        database=DatabaseSettings(url=db_url),
        state_dir=tmp_path,
        anomaly=AnomalyOptions(client_id="anomaly-" + secrets.token_hex(4)),
    )
    svc = AnomalyService(settings)
    try:
        yield svc
    finally:
        assert svc.checkpoints is not None
        svc.checkpoints.close()


def test_panic_to_finding_feedback_adjusts_and_a_restart_resumes(broker: Broker, db_url: str, tmp_path: Path) -> None:
    home = "h-" + secrets.token_hex(6)
    with session_factory(make_engine(db_url))() as s:
        s.add(Home(id=home, label="1-101", district="d", timezone="Asia/Shanghai", created_at=datetime.now(UTC)))
        s.commit()
    settings = AnomalySettings(
        mqtt=broker.settings("anomaly"),
        database=DatabaseSettings(url=db_url),
        state_dir=tmp_path,
        anomaly=AnomalyOptions(client_id="anomaly-" + secrets.token_hex(4), tick_s=0.5, checkpoint_s=1, summary_s=1),
    )
    findings: queue.Queue[bytes] = queue.Queue()
    alerts = make_client(broker.settings("alerts"), "alerts-" + secrets.token_hex(4))
    alerts.on_message = lambda _c, _u, msg: findings.put(bytes(msg.payload))
    connect_and_wait(alerts, broker.settings("alerts"))
    alerts.subscribe(FINDINGS_FILTER, qos=1)
    agent = make_client(broker.settings(home), agent_client_id(home))
    connect_and_wait(agent, broker.settings(home))
    try:
        with running(settings) as svc:
            wait_for(lambda: svc._client.is_connected(), what="anomaly connected")
            now = datetime.now(UTC)
            ev = SensorEvent(
                home=home, agent="pi-1", seq=1, ts=now, sensor="pir_living", kind="motion", value=1, room="living"
            )
            press = ev.model_copy(update={"seq": 2, "sensor": "panic", "kind": "button", "value": "press"})
            agent.publish(events_topic(home), dump(ev), qos=1).wait_for_publish(5)
            agent.publish(events_topic(home), dump(press), qos=1).wait_for_publish(5)
            f = parse_finding(findings.get(timeout=5))
            assert (f.home, f.kind, f.severity) == (home, "panic", "critical")
            fb = Feedback(
                home=home,
                alert_id=7,
                kind="long_inactivity",
                finding_ids=[f.id],
                since=now - timedelta(hours=1),
                outcome="false_alarm",
                ts=datetime.now(UTC),
            )
            alerts.publish(feedback_topic(home), dump(fb), qos=1).wait_for_publish(5)
            wait_for(lambda: svc.feedback_applied == 1, what="feedback applied")
            assert svc.engine.homes[home].scale["long_inactivity"] > 1.0
        with session_factory(make_engine(db_url))() as s:
            row = s.scalars(select(RoutineSummary).where(RoutineSummary.home_id == home)).one()
            assert 0.0 <= row.confidence <= 1.0 and "usual_wake" in row.summary
            assert row.summary["feedback_scale"]["long_inactivity"] > 1.0
        with running(settings) as again:
            assert again.engine.homes[home].scale["long_inactivity"] > 1.0  # resumed from its checkpoint
            assert again.engine.homes[home].last_act is not None
    finally:
        for c in (agent, alerts):
            c.disconnect()
            c.loop_stop()


def test_each_home_keeps_its_own_time_zone_from_the_homes_table(broker: Broker, db_url: str, tmp_path: Path) -> None:
    london, bad, plain = ("h-" + secrets.token_hex(6) for _ in range(3))
    with session_factory(make_engine(db_url))() as s:
        for home, tz in ((london, "Europe/London"), (bad, "Mars/Olympus_Mons"), (plain, "Asia/Shanghai")):
            s.add(Home(id=home, label=home, district="d", timezone=tz, created_at=datetime.now(UTC)))
        s.commit()
    with built(broker, db_url, tmp_path) as svc:
        # 02:00 in London is 10:00 in Shanghai: the front door then is a night exit for one home only.
        at = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
        for home in (london, bad, plain):
            rows: list[tuple[datetime, str, str, int | str, str]] = [
                (at - timedelta(seconds=30), "pir_hall", "motion", 1, "hall"),
                (at, "front", "door", "open", "entrance"),
                (at + timedelta(seconds=20), "front", "door", "closed", "entrance"),
            ]
            for seq, (dt, sensor, kind, value, room) in enumerate(rows, start=1):
                ev = SensorEvent(
                    home=home, agent="pi-1", seq=seq, ts=dt, sensor=sensor, kind=kind, value=value, room=room
                )
                svc.handle(events_topic(home), dump(ev), dt)
        found = [f for m in range(1, 31) for f in svc.engine.tick(at + timedelta(minutes=m))]
        assert {f.home for f in found if f.kind == "night_exit"} == {london}
        assert str(svc.engine.homes[london]._tz) == "Europe/London"
        assert str(svc.engine.homes[bad]._tz) == "Asia/Shanghai"  # unknown zone: the service's, and a warning


def test_a_checkpoint_from_before_the_engine_split_starts_that_home_afresh(
    broker: Broker, db_url: str, tmp_path: Path
) -> None:
    """An upgrade over a state folder of the old engine: the service starts, the old home runs on fresh state."""
    from anomaly.engine import HomeMonitor
    from anomaly.store import CheckpointStore

    old_home, new_home = ("h-" + secrets.token_hex(6) for _ in range(2))
    store = CheckpointStore(tmp_path / "anomaly" / "checkpoints.sqlite")
    kept = HomeMonitor(new_home, UTC)
    kept.scale["long_inactivity"] = 1.25
    store.save({new_home: kept}, {}, datetime.now(UTC))
    old = (Path(__file__).parents[1] / "unit" / "golden" / "checkpoint_format5.bin").read_bytes()  # the old engine's
    with store._db:
        store._db.execute("INSERT INTO homes (home, saved, state, seen) VALUES (?, ?, ?, ?)", (old_home, 0.0, old, b""))
    store.close()
    with built(broker, db_url, tmp_path) as svc:
        assert svc.health.checkpoints_restored
        assert set(svc.engine.homes) == {new_home} and svc.engine.homes[new_home].scale == {"long_inactivity": 1.25}
        at = datetime.now(UTC)
        press = SensorEvent(home=old_home, agent="pi-1", seq=1, ts=at, sensor="panic", kind="button", value="press")
        svc.handle(events_topic(old_home), dump(press), at)
        assert svc.engine.homes[old_home].days_learned == 0  # a fresh monitor, detecting from its first event


def test_a_restored_home_takes_the_budget_and_kit_in_effect_now_not_its_checkpoints(
    broker: Broker, db_url: str, tmp_path: Path
) -> None:
    """A budget cleared or a mat's role changed in the console while the service was down: the checkpoint still
    carries the old one (`Engine.install`)."""
    from anomaly.engine import HomeLimits, HomeMonitor
    from anomaly.store import CheckpointStore

    cleared, kept = ("h-" + secrets.token_hex(6) for _ in range(2))
    with session_factory(make_engine(db_url))() as s:
        s.add(Home(id=cleared, label=cleared, district="d", created_at=datetime.now(UTC), false_alarm_budget=None))
        s.add(Home(id=kept, label=kept, district="d", created_at=datetime.now(UTC), false_alarm_budget=3.0))
        s.flush()
        s.add(HomeSensor(home_id=kept, sensor="mat_1", kind="pressure", room="bedroom", role="seat"))
        s.commit()
    store = CheckpointStore(tmp_path / "anomaly" / "checkpoints.sqlite")
    old = HomeLimits(false_alarm_budget_per_60d=2.5)  # what the console said when these were saved
    saved = {h: HomeMonitor(h, UTC, old) for h in (cleared, kept)}
    saved[kept].set_sensor_meta({"mat_1": {"kind": "pressure", "room": "bedroom", "role": "bed"}})
    store.save(saved, {}, datetime.now(UTC))
    store.close()
    with built(broker, db_url, tmp_path) as svc:
        assert svc.health.checkpoints_restored
        share = svc.engine.options.tuning.budget_share
        for home, budget in ((cleared, 1.0), (kept, 3.0)):
            m = svc.engine.homes[home]
            assert m.limits.false_alarm_budget_per_60d == budget and m.idle.model.budget_per_60d == budget * share
        assert svc.engine.homes[kept].kit.mat_role("mat_1") == "seat"  # (the checkpoint's kit said bed)
        # The file read again after the registry (a checkpoint unreadable at start is retried): the same holds.
        assert svc._restore()
        m = svc.engine.homes[kept]
        assert m.kit.mat_role("mat_1") == "seat" and m.limits.false_alarm_budget_per_60d == 3.0
