"""A home's last 24 hours as one timeline: rooms visited, the front door, the bed, and findings (alerts opened).

Read from InfluxDB in 10-minute bins and drawn as lanes by console/templates/_charts.html (the `timeline` chart),
so an operator sees at a glance where the resident was, when they went out and to bed, and what was flagged."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from anxin.influxql import InfluxQL, InfluxQueryError
from console.charts import MARK_COLOR, LegendItem, Mark, SvgRect, SvgText, _quote
from contracts.vocabulary import Measurement

BIN = timedelta(minutes=10)
BINS = 144  # 24 hours
COLORS = {"room": "#1f6feb", "door": "#d97706", "bed": "#6f42c1", "finding": MARK_COLOR}


@dataclass
class DayActivity:
    """Per 10-minute bin of the last 24 h: rooms moved in, door opened, bed occupied; plus the bins' start times."""

    available: bool
    start: datetime | None = None  # the first bin's start, local time
    rooms: dict[str, set[int]] = field(default_factory=dict)
    door: set[int] = field(default_factory=set)
    bed: set[int] = field(default_factory=set)
    has_bed_mat: bool = False  # a bed mat reported in the window: without one the bed lane is left out


def read_day(influx: InfluxQL, home_id: str, timezone: str, now: datetime, bed_mats: set[str]) -> DayActivity:
    """The last 24 h of one home in 10-minute bins; `bed_mats` are the pressure mats the engine knows as beds."""
    home = _quote(home_id)
    zone = ZoneInfo(timezone)
    end = now.astimezone(zone).replace(second=0, microsecond=0)
    end = end - timedelta(minutes=end.minute % 10) + BIN
    start = end - BINS * BIN
    window = f"time >= {int(start.timestamp())}s AND time < {int(end.timestamp())}s"
    query = (
        f'SELECT max("value") FROM "{Measurement.SENSOR_EVENT}" WHERE "home" = \'{home}\' AND {window} '
        'GROUP BY time(10m), "kind", "room", "sensor" fill(none)'
    )
    try:
        series = influx.query(query)
    except (InfluxQueryError, ValueError, TypeError):
        return DayActivity(False)
    day = DayActivity(True, start)
    mats: dict[str, list[tuple[int, float]]] = {}
    for s in series:
        kind, room, sensor = s.tags.get("kind", ""), s.tags.get("room", "") or "—", s.tags.get("sensor", "")
        for t, value in s.values:
            if value is None:
                continue
            i = int((datetime.fromtimestamp(t / 1000, UTC) - start).total_seconds() // BIN.total_seconds())
            if not 0 <= i < BINS:
                continue
            if kind == "motion" and value > 0:
                day.rooms.setdefault(room, set()).add(i)
            elif kind == "door" and value > 0:
                day.door.add(i)
            elif kind == "pressure" and (sensor in bed_mats or "bed" in sensor.lower()):
                mats.setdefault(sensor, []).append((i, float(value)))
    for points in mats.values():
        day.bed |= _held_bins(points)
    day.has_bed_mat = bool(mats)
    return day


def _held_bins(points: list[tuple[int, float]]) -> set[int]:
    """Bins a mat is held: from a bin whose last report is "on" until one with "off" (a night has few reports)."""
    held: set[int] = set()
    on_since: int | None = None
    for i, value in sorted(points):
        if value > 0 and on_since is None:
            on_since = i
        elif value <= 0 and on_since is not None:
            held.update(range(on_since, i + 1))
            on_since = None
    if on_since is not None:
        held.update(range(on_since, BINS))
    return held


@dataclass(frozen=True)
class Lane:
    """One row of the timeline: its label and the spans drawn in it."""

    label: SvgText
    spans: list[SvgRect]


@dataclass
class Timeline:
    """The timeline chart's geometry (kind "timeline", drawn by _charts.html)."""

    width: int
    height: int
    title: str
    kind: str = "timeline"
    ticks: list[SvgText] = field(default_factory=list)
    lanes: list[Lane] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    legend: list[LegendItem] = field(default_factory=list)


@dataclass(frozen=True)
class Finding:
    """An alert opened in the window: when, and its name and severity as the page says them."""

    at: datetime
    text: str


@dataclass(frozen=True)
class TimelineWords:
    """The translated words the timeline needs (the chart module knows no language)."""

    title: str
    door: str
    bed: str
    room: str
    finding: str
    span: str  # "{lane} {start}-{end}" format with {lane}, {start}, {end}


LEFT, TOP, LANE_H, BIN_W = 110, 22, 22, 6


def draw(day: DayActivity, rooms: dict[str, str], findings: list[Finding], words: TimelineWords) -> Timeline | None:
    """Lanes for each room (translated names in `rooms`), the door and the bed, with findings as red marks."""
    if not day.available or day.start is None:
        return None
    lanes: list[tuple[str, set[int], str]] = [(rooms.get(r, r), bins, COLORS["room"]) for r, bins in day.rooms.items()]
    lanes.sort(key=lambda lane: lane[0])
    lanes.append((words.door, day.door, COLORS["door"]))
    if day.has_bed_mat:
        lanes.append((words.bed, day.bed, COLORS["bed"]))
    width = LEFT + BINS * BIN_W + 70  # room on the right for the last tick and a late finding's label
    height = TOP + LANE_H * len(lanes) + 34
    chart = Timeline(width, height, words.title)
    start = day.start
    for h in range(0, 25, 3):
        at = start + timedelta(hours=h)
        chart.ticks.append(SvgText(f"{LEFT + h * 6 * BIN_W}", "14", f"{at:%H}:{at:%M}"))
    for n, (label, bins, color) in enumerate(lanes):
        y = TOP + n * LANE_H
        spans = []
        for a, b in _runs(bins):
            t0, t1 = start + a * BIN, start + b * BIN
            title = words.span.format(lane=label, start=f"{t0:%H:%M}", end=f"{t1:%H:%M}")
            left, w = LEFT + a * BIN_W, (b - a) * BIN_W
            spans.append(SvgRect(f"{left}", f"{y + 3}", f"{w}", f"{LANE_H - 6}", color, title))
        chart.lanes.append(Lane(SvgText(f"{LEFT - 8}", f"{y + LANE_H / 2 + 4:.0f}", label), spans))
    bottom = TOP + LANE_H * len(lanes)
    for f in findings:
        offset = (f.at - start).total_seconds() / BIN.total_seconds()
        if not 0 <= offset <= BINS:
            continue
        x = f"{LEFT + offset * BIN_W:.1f}"
        title = f"{f.at.astimezone(start.tzinfo):%H:%M} {f.text}"
        chart.marks.append(Mark(x, f"{TOP - 4}", f"{bottom + 4}", SvgText(x, f"{bottom + 16}", f.text), title))
    chart.legend = [LegendItem(COLORS["room"], words.room), LegendItem(COLORS["door"], words.door)]
    if day.has_bed_mat:
        chart.legend.append(LegendItem(COLORS["bed"], words.bed))
    chart.legend.append(LegendItem(COLORS["finding"], words.finding))
    return chart


def _runs(bins: set[int]) -> list[tuple[int, int]]:
    """Consecutive bins as [start, end) runs, so a stay is one span, not six."""
    runs: list[tuple[int, int]] = []
    for i in sorted(bins):
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs
