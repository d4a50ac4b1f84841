"""`anxin sim report DIR`: per home, a PNG heat map of activity by hour and day with the incidents marked."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

BINS_PER_HOUR = 4
COLORS = {
    "long_lie": "#e41a1c",
    "fall_short": "#ff7f00",
    "night_exit": "#984ea3",
    "night_wandering": "#f781bf",
    "door_left_open": "#a65628",
    "late_wakeup": "#ffff33",
    "illness": "#4daf4a",
    "night_restlessness": "#377eb8",
    "sensor_dead": "#999999",
    "agent_offline": "#ffffff",
    "panic": "#e7298a",
}

# What counts as activity in the heat map: motion, and a mat, fixture or appliance switching on (pressure mats and
# contacts are most of what some kits report).
ACTIVITY = {("motion", "1"), ("pressure", "1"), ("contact", "open"), ("power", "1"), ("flush", "1")}


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def home_report(folder: Path) -> Path:
    """Draw `folder/activity.png` from the home's events.csv (and labels.csv, home.json when present)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Patch, Rectangle

    events = _read(folder / "events.csv")
    labels = _read(folder / "labels.csv") if (folder / "labels.csv").exists() else []
    meta = json.loads((folder / "home.json").read_text()) if (folder / "home.json").exists() else {}
    if not events:
        raise ValueError(f"{folder / 'events.csv'} has no events")
    first = datetime.fromisoformat(events[0]["ts"]).replace(hour=0, minute=0, second=0, microsecond=0)
    last = datetime.fromisoformat(events[-1]["ts"])
    days = (last - first).days + 1
    grid = np.zeros((days, 24 * BINS_PER_HOUR))
    doors = []
    for e in events:
        ts = datetime.fromisoformat(e["ts"])
        d = (ts - first).days
        b = (ts.hour * 60 + ts.minute) * BINS_PER_HOUR // 60
        if (e["kind"], e["value"]) in ACTIVITY:
            grid[d, b] += 1
        elif e["kind"] == "door" and e["value"] == "open":
            doors.append((d, b))
    fig, ax = plt.subplots(figsize=(11, 2.2 + days * 0.13))
    ax.imshow(np.log1p(grid), aspect="auto", cmap="magma", interpolation="nearest", origin="upper",
              extent=(0, 24, days, 0))  # fmt: skip
    if doors:
        ax.scatter([(b + 0.5) / BINS_PER_HOUR for _d, b in doors], [d + 0.5 for d, _b in doors], s=6, marker="|",
                   color="#00e5ff", linewidths=0.8, label="door opened")  # fmt: skip
    seen = set()
    for lb in labels:
        a, z = datetime.fromisoformat(lb["start"]), datetime.fromisoformat(lb["end"])
        z = max(z, a + timedelta(minutes=20))  # keep instants (panic) visible
        color = COLORS.get(lb["type"], "#ffffff")
        seen.add(lb["type"])
        t = a
        while t < z:
            day_end = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            u = min(z, day_end)
            d = (t - first).days
            h0 = t.hour + t.minute / 60 + t.second / 3600
            h1 = 24.0 if u == day_end else u.hour + u.minute / 60 + u.second / 3600
            ax.add_patch(Rectangle((h0, d + 0.05), max(h1 - h0, 0.15), 0.9, fill=False, edgecolor=color, linewidth=1.6))
            t = u
    ax.set_xticks(range(0, 25, 2))
    ax.set_xlabel("hour of day")
    ax.set_yticks(range(0, days, 7))
    ax.set_yticklabels([(first + timedelta(days=d)).strftime("%m-%d %a") for d in range(0, days, 7)], fontsize=7)
    title = f"{folder.name}  {meta.get('profile', '')}  {meta.get('layout', {}).get('name', '')}  {meta.get('kit', '')}"
    ax.set_title(title + "  (motion, mat, contact and appliance reports per 15 min, log scale)", fontsize=9)
    handles = [Patch(fill=False, edgecolor=COLORS[k], label=k) for k in COLORS if k in seen]
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False)
    fig.tight_layout()
    out = folder / "activity.png"
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def report(root: Path) -> list[Path]:
    """One PNG per home folder (a folder with events.csv) under `root`."""
    return [home_report(p) for p in sorted(root.iterdir()) if (p / "events.csv").exists()]
