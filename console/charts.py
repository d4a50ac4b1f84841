"""A home's activity from InfluxDB, and its charts drawn as inline SVG on the server (no script, no network)."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from anxin.influxql import InfluxQL, InfluxQueryError, Series
from contracts.vocabulary import Measurement

_EVENTS, _STATUS, _BEATS = Measurement.SENSOR_EVENT, Measurement.AGENT_STATUS, Measurement.HEARTBEAT

NIGHT_START, NIGHT_END = 22, 6  # local hours; a night belongs to the date it starts on
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class SensorInfo:
    """One sensor of a home: where, what, when last heard and its battery."""

    sensor: str
    kind: str
    room: str
    last_seen: datetime | None
    battery: int | None


@dataclass
class HomeActivity:
    """Charts' data and the hub's state for one home; `available` is false when InfluxDB could not be read."""

    available: bool
    hours: list[datetime] = field(default_factory=list)  # the last 24 local hours, oldest first
    rooms: dict[str, list[float]] = field(default_factory=dict)  # room -> motion per hour over `hours`
    days: list[date] = field(default_factory=list)  # the last 7 local dates, oldest first
    doors: list[float] = field(default_factory=list)  # door openings per day
    nights: list[float] = field(default_factory=list)  # motion between 22:00 and 06:00, per night
    sensors: list[SensorInfo] = field(default_factory=list)
    agent: dict[str, object] = field(default_factory=dict)
    heartbeat: dict[str, object] = field(default_factory=dict)


def _quote(home_id: str) -> str:
    if not _SAFE_ID.match(home_id):
        raise ValueError(f"not a home id: {home_id!r}")
    return home_id


def _from_epoch_ms(value: object) -> datetime | None:
    return datetime.fromtimestamp(float(value) / 1000, UTC) if isinstance(value, int | float) else None


def _latest(series: list[Series]) -> dict[str, object]:
    if not series or not series[0].values:
        return {}
    record = series[0].records()[0]
    record["time"] = _from_epoch_ms(record.get("time"))
    return record


def read_home_activity(influx: InfluxQL, home_id: str, timezone: str, now: datetime) -> HomeActivity:
    """Hourly activity of the last 7 days by kind and room, sensors, and the hub's latest status and heartbeat."""
    home = _quote(home_id)
    zone = ZoneInfo(timezone)
    queries = {
        "hourly": f'SELECT sum("value") FROM "{_EVENTS}" WHERE "home" = \'{home}\' AND time > now() - 7d '
        f'GROUP BY time(1h), "kind", "room" fill(none) tz(\'{timezone}\')',
        "seen": f'SELECT last("seq") FROM "{_EVENTS}" WHERE "home" = \'{home}\' AND time > now() - 30d '
        'GROUP BY "sensor", "kind", "room"',
        "battery": f'SELECT last("battery") FROM "{_EVENTS}" WHERE "home" = \'{home}\' AND time > now() - 30d '
        'GROUP BY "sensor"',
        "agent": f'SELECT * FROM "{_STATUS}" WHERE "home" = \'{home}\' ORDER BY time DESC LIMIT 1',
        "heartbeat": f'SELECT * FROM "{_BEATS}" WHERE "home" = \'{home}\' ORDER BY time DESC LIMIT 1',
    }
    try:
        with ThreadPoolExecutor(max_workers=len(queries), thread_name_prefix="console-home") as pool:
            futures = {name: pool.submit(influx.query, q) for name, q in queries.items()}
            results = {name: f.result() for name, f in futures.items()}
    except (InfluxQueryError, ValueError, TypeError, IndexError):
        return HomeActivity(False)

    local_now = now.astimezone(zone)
    this_hour = local_now.replace(minute=0, second=0, microsecond=0)
    hours = [this_hour - timedelta(hours=23 - i) for i in range(24)]
    hour_index = {h: i for i, h in enumerate(hours)}
    days = [local_now.date() - timedelta(days=6 - i) for i in range(7)]
    day_index = {d: i for i, d in enumerate(days)}
    rooms: dict[str, list[float]] = {}
    doors = [0.0] * 7
    nights = [0.0] * 7
    for s in results["hourly"]:
        kind, room = s.tags.get("kind", ""), s.tags.get("room", "") or "—"
        for t, total in s.values:
            if total is None:
                continue
            at = datetime.fromtimestamp(t / 1000, UTC).astimezone(zone)
            if kind in ("motion", "pressure"):
                i = hour_index.get(at.replace(minute=0, second=0, microsecond=0))
                if i is not None:
                    rooms.setdefault(room, [0.0] * 24)[i] += float(total)
                if kind == "motion" and (at.hour >= NIGHT_START or at.hour < NIGHT_END):
                    night = at.date() if at.hour >= NIGHT_START else at.date() - timedelta(days=1)
                    if night in day_index:
                        nights[day_index[night]] += float(total)
            elif kind == "door" and at.date() in day_index:
                doors[day_index[at.date()]] += float(total)
    batteries = {s.tags.get("sensor", ""): s.values[0][1] for s in results["battery"] if s.values}
    sensors = [
        SensorInfo(
            sensor=s.tags.get("sensor", ""),
            kind=s.tags.get("kind", ""),
            room=s.tags.get("room", ""),
            last_seen=_from_epoch_ms(s.values[0][0]) if s.values else None,
            battery=int(b) if isinstance(b := batteries.get(s.tags.get("sensor", "")), int | float) else None,
        )
        for s in results["seen"]
    ]
    sensors.sort(key=lambda x: (x.room, x.sensor))
    return HomeActivity(
        True,
        hours,
        dict(sorted(rooms.items())),
        days,
        doors,
        nights,
        sensors,
        _latest(results["agent"]),
        _latest(results["heartbeat"]),
    )


# Charts are drawn by console/templates/_charts.html from these models: the geometry is computed here (numbers
# already formatted as the SVG wants them), the markup and escaping are Jinja's.


@dataclass(frozen=True)
class SvgText:
    """A text of a chart at (x, y)."""

    x: str
    y: str
    text: str


@dataclass(frozen=True)
class SvgRect:
    """A cell or bar of a chart, with its <title> for screen readers and hover."""

    x: str
    y: str
    width: str
    height: str
    fill: str
    title: str


@dataclass(frozen=True)
class HeatRow:
    """One room of a heat map: its label and a cell per hour."""

    label: SvgText
    cells: list[SvgRect]


@dataclass(frozen=True)
class Bar:
    """One bar, the value above it and its label below."""

    rect: SvgRect
    value: SvgText
    tick: SvgText


@dataclass(frozen=True)
class Mark:
    """An incident drawn across a chart: a red line at x from y1 to y2, its label, and its <title>."""

    x: str
    y1: str
    y2: str
    label: SvgText
    title: str


@dataclass(frozen=True)
class LegendItem:
    """A colour and what it stands for, drawn under the chart."""

    color: str
    text: str


@dataclass(frozen=True)
class Chart:
    """One SVG chart: its size and accessible name, then hour ticks and rows (heat map) or bars and a baseline."""

    kind: str  # "heatmap" or "bars"
    width: int
    height: int
    title: str
    ticks: list[SvgText] = field(default_factory=list)
    rows: list[HeatRow] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    baseline: int = 0
    marks: list[Mark] = field(default_factory=list)
    legend: list[LegendItem] = field(default_factory=list)


MARK_COLOR = "#cf222e"


def mark_heatmap(chart: Chart | None, hours: list[datetime], alerts: list[tuple[datetime, str]]) -> None:
    """Draw each alert opened within the heat map's hours as a red line at its hour column."""
    if chart is None or not hours:
        return
    left, cell_w, top = 110, 26, 22
    first = hours[0]
    for at, text in alerts:
        offset = (at.astimezone(first.tzinfo) - first).total_seconds() / 3600
        if 0 <= offset < len(hours):
            x = f"{left + offset * cell_w:.1f}"
            label = SvgText(x, "0", "")
            chart.marks.append(
                Mark(x, f"{top - 4}", f"{chart.height - 2}", label, f"{at.astimezone(first.tzinfo):%H:%M} {text}")
            )


def mark_bars(chart: Chart | None, days: list[date], alerts: list[tuple[datetime, str]], zone: str) -> None:
    """Mark each day of a bar chart on which alerts opened: a red triangle over the bar, their names as its title."""
    if chart is None:
        return
    by_day: dict[int, list[str]] = {}
    index = {d: i for i, d in enumerate(days)}
    for at, text in alerts:
        i = index.get(at.astimezone(ZoneInfo(zone)).date())
        if i is not None:
            by_day.setdefault(i, []).append(f"{at.astimezone(ZoneInfo(zone)):%H:%M} {text}")
    for i, texts in by_day.items():
        bar = chart.bars[i]
        x = f"{float(bar.rect.x) + float(bar.rect.width) / 2:.1f}"
        chart.marks.append(Mark(x, "2", "8", SvgText(x, "10", "▼"), "; ".join(texts)))


def heatmap(
    rows: dict[str, list[float]], hours: list[datetime], title: str, count: Callable[[int], str]
) -> Chart | None:
    """Rooms by hour as cells whose darkness is the activity; `count(n)` says "n events"; None without data."""
    if not rows:
        return None
    cell_w, cell_h, left, top = 26, 24, 110, 22
    width = left + cell_w * len(hours) + 8
    height = top + cell_h * len(rows) + 6
    peak = max((v for values in rows.values() for v in values), default=0.0) or 1.0
    chart = Chart("heatmap", width, height, title)
    for i, h in enumerate(hours):
        if i % 3 == 0:
            chart.ticks.append(SvgText(f"{left + i * cell_w + cell_w / 2:.0f}", "14", f"{h:%H}"))
    for r, (room, values) in enumerate(rows.items()):
        y = top + r * cell_h
        cells = []
        for i, v in enumerate(values):
            fill = "#eef2f7" if v <= 0 else f"rgba(31,111,235,{0.18 + 0.82 * v / peak:.2f})"
            hint = f"{room} {hours[i]:%H}:00 · {count(round(v))}"
            cells.append(SvgRect(f"{left + i * cell_w + 1}", f"{y + 1}", f"{cell_w - 2}", f"{cell_h - 2}", fill, hint))
        chart.rows.append(HeatRow(SvgText(f"{left - 8}", f"{y + cell_h / 2 + 4:.0f}", room), cells))
    return chart


def bars(
    values: list[float], labels: list[str], title: str, count: Callable[[int], str], color: str = "#1f6feb"
) -> Chart | None:
    """A bar chart with the value above each bar and its label below; None without data."""
    if not values:
        return None
    bar_w, gap, height, top, bottom = 44, 14, 150, 18, 24
    width = len(values) * (bar_w + gap) + gap
    peak = max(values) or 1.0
    chart = Chart("bars", width, height, title, baseline=height - bottom)
    plot = height - top - bottom
    for i, (v, label) in enumerate(zip(values, labels, strict=True)):
        x = gap + i * (bar_w + gap)
        h = plot * v / peak if v > 0 else 0
        y = height - bottom - h
        rect = SvgRect(f"{x}", f"{y:.1f}", f"{bar_w}", f"{h:.1f}", color, f"{label} · {count(round(v))}")
        value = SvgText(f"{x + bar_w / 2}", f"{y - 4:.1f}", f"{v:.0f}")
        chart.bars.append(Bar(rect, value, SvgText(f"{x + bar_w / 2}", f"{height - 6}", label)))
    return chart
