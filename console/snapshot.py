"""A background-refreshed snapshot of every home's activity from InfluxDB, so pages never wait on InfluxQL.

The "last event per home" query over 30 days costs about half a second at 10k homes. The snapshot runs it once in
full, then every `refresh_s` asks only for what arrived since the previous refresh and merges it; a full re-read every
`full_every_s` picks up events that arrived late with old timestamps (an agent replaying its queue).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from anxin.influxql import InfluxQL, InfluxQueryError, Series
from contracts.vocabulary import Measurement

_EVENTS, _STATUS, _BEATS = Measurement.SENSOR_EVENT, Measurement.AGENT_STATUS, Measurement.HEARTBEAT

log = logging.getLogger(__name__)

WINDOW = "30d"


@dataclass(frozen=True)
class Activity:
    """Per home: newest sensor event, hub online or not, hub queue depth and lowest battery; immutable."""

    available: bool
    last_event: dict[str, datetime] = field(default_factory=dict)
    online: dict[str, bool] = field(default_factory=dict)
    queue_depth: dict[str, int] = field(default_factory=dict)
    min_battery: dict[str, int] = field(default_factory=dict)
    read_at: datetime | None = None
    generation: int = 0


def _from_epoch_ms(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _by_home(series: list[Series], column: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for s in series:
        home = s.tags.get("home")
        if home and s.values:
            row = s.values[0]
            out[home] = row[s.columns.index(column)]
    return out


def read_activity(influx: InfluxQL, since: str = WINDOW) -> Activity:
    """Read the activity of every home from `since` ago (an InfluxQL duration) until now, in three queries."""
    events = influx.query(f'SELECT last("seq") FROM "{_EVENTS}" WHERE time > now() - {since} GROUP BY "home"')
    status = influx.query(f'SELECT last("online") FROM "{_STATUS}" WHERE time > now() - {since} GROUP BY "home"')
    beats = influx.query(
        f'SELECT last("queue_depth") AS queue, last("min_battery") AS battery FROM "{_BEATS}" '
        f'WHERE time > now() - {since} GROUP BY "home"'
    )
    last_event = {
        h: _from_epoch_ms(float(t)) for h, t in _by_home(events, "time").items() if isinstance(t, int | float)
    }
    online = {h: bool(int(v)) for h, v in _by_home(status, "last").items() if isinstance(v, int | float)}
    queue = {h: int(v) for h, v in _by_home(beats, "queue").items() if isinstance(v, int | float)}
    battery = {h: int(v) for h, v in _by_home(beats, "battery").items() if isinstance(v, int | float)}
    return Activity(True, last_event, online, queue, battery, datetime.now(UTC))


def merge(old: Activity, new: Activity) -> Activity:
    """`old` updated with the newer readings of `new`."""
    last = dict(old.last_event)
    for home, ts in new.last_event.items():
        if home not in last or ts > last[home]:
            last[home] = ts
    return Activity(
        True,
        last,
        {**old.online, **new.online},
        {**old.queue_depth, **new.queue_depth},
        {**old.min_battery, **new.min_battery},
        new.read_at,
    )


class ActivitySnapshot:
    """Holds the newest Activity; `start()` refreshes it in a daemon thread until `stop()`."""

    def __init__(
        self,
        influx: InfluxQL,
        refresh_s: float,
        full_every_s: float = 300.0,
        reader: Callable[[InfluxQL, str], Activity] = read_activity,
    ) -> None:
        self._influx = influx
        self._refresh_s = refresh_s
        self._full_every_s = full_every_s
        self._reader = reader
        self._current: Activity | None = None
        self._last_full = 0.0
        self._last_ok = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._down = False

    @property
    def influx(self) -> InfluxQL:
        """The client the snapshot reads with."""
        return self._influx

    def get(self) -> Activity:
        """The newest snapshot, reading it now if there is none yet."""
        current = self._current
        if current is None:
            return self.refresh()
        return current

    def refresh(self, full: bool = False) -> Activity:
        """Read from InfluxDB now (incrementally when possible) and return the new snapshot."""
        with self._lock:
            started = time.monotonic()
            old = self._current
            incremental = (
                not full
                and old is not None
                and old.available
                and started - self._last_full < self._full_every_s
                and self._last_ok > 0
            )
            try:
                if incremental:
                    assert old is not None
                    # Overlap the previous read by a few seconds: a point written during it is not missed.
                    window = int(started - self._last_ok + self._refresh_s + 5)
                    fresh = merge(old, self._reader(self._influx, f"{window}s"))
                else:
                    fresh = self._reader(self._influx, WINDOW)
                    self._last_full = started
            except (InfluxQueryError, ValueError, TypeError, IndexError) as err:
                self._note(down=True, why=str(err))
                fresh = Activity(False, generation=(old.generation + 1) if old else 1)
                if old is not None and old.available:
                    # Keep showing what was known, flagged as stale, rather than blanking every page.
                    fresh = Activity(
                        False, old.last_event, old.online, old.queue_depth, old.min_battery, old.read_at, 0
                    )
                self._current = _with_generation(fresh, old)
                return self._current
            self._note(down=False)
            self._last_ok = started
            self._current = _with_generation(fresh, old)
            return self._current

    def start(self) -> None:
        """Refresh in the background every refresh_s seconds."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="console-activity", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background refresh."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._refresh_s):
            try:
                self.refresh()
            except Exception:  # the refresher must outlive any one bad read
                log.exception("activity refresh failed")

    def _note(self, down: bool, why: str = "") -> None:
        if down and not self._down:
            log.warning("activity data unavailable, pages show SQL data only: %s", why)
        elif not down and self._down:
            log.info("activity data available again")
        self._down = down


def _with_generation(new: Activity, old: Activity | None) -> Activity:
    """`new` with a generation number that changes exactly when what pages show changes."""
    if old is None:
        gen = 1
    elif (new.available, new.last_event, new.online, new.queue_depth, new.min_battery) == (
        old.available,
        old.last_event,
        old.online,
        old.queue_depth,
        old.min_battery,
    ):
        gen = old.generation
    else:
        gen = old.generation + 1
    return Activity(new.available, new.last_event, new.online, new.queue_depth, new.min_battery, new.read_at, gen)
