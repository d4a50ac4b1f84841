"""Scores of many homes summed up: per source, per sensor kit, as JSON-ready dicts and Markdown tables."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from evaluation.misses import summarise_misses
from evaluation.scoring import DETECTS, SHORT_LIE, HomeScore


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (k - lo), 1)


def _per_60(n: float, days: float) -> float | None:
    return round(n / days * 60, 3) if days else None


def _types(scores: list[HomeScore]) -> dict[str, Any]:
    """Recall and delays per scored type; long lies also by day/night and by who found them, when labels say."""
    by: dict[str, list[float | None]] = defaultdict(list)
    for s in scores:
        for typ, when, delay in s.hits:
            by[typ].append(delay)
            if typ == "long_lie" and when:
                day_night, _, found_by = when.partition("/")
                by[f"long_lie ({day_night})"].append(delay)
                if found_by:
                    by[f"long_lie (found_by={found_by})"].append(delay)
    out: dict[str, Any] = {}
    for typ in sorted(by):
        ds = by[typ]
        hit = [d for d in ds if d is not None]
        out[typ] = {
            "n": len(ds),
            "found": len(hit),
            "recall": round(len(hit) / len(ds), 3) if ds else None,
            "median_delay_min": _pct(hit, 0.5),
            "p95_delay_min": _pct(hit, 0.95),
        }
    return out


def calibration(scores: list[HomeScore]) -> dict[str, Any]:
    """The engine's predicted false person alerts per home per 60 days against those observed, over the homes that
    state a prediction (both weighted by days)."""
    said = [s for s in scores if s.predicted_false_60d is not None]
    days = sum(s.days for s in said)
    predicted = sum((s.predicted_false_60d or 0.0) * s.days for s in said) / days if days else None
    return {
        "homes_predicting": len(said),
        "predicted_per_home_per_60_days": round(predicted, 3) if predicted is not None else None,
        "observed_per_home_per_60_days": _per_60(sum(len(s.false_alarms) for s in said), days),
    }


def _count(items: list[tuple[str, str]]) -> dict[str, int]:
    by: dict[str, int] = defaultdict(int)
    for kind, _ts in items:
        by[kind] += 1
    return dict(sorted(by.items()))


def summarise(scores: list[HomeScore]) -> dict[str, Any]:
    """Recall and delays per incident type, false person and device alerts per home per 60 days, calibration."""
    days = sum(s.days for s in scores)
    false = [fa for s in scores for fa in s.false_alarms]
    device = [fa for s in scores for fa in s.device_false]
    windows: dict[str, int] = defaultdict(int)
    unknown: dict[str, int] = defaultdict(int)
    for s in scores:
        for typ, n in s.windows.items():
            windows[typ] += n
        for typ, n in s.unknown.items():
            unknown[typ] += n
    return {
        "homes": len(scores),
        "home_days": round(days, 1),
        "events": sum(s.events for s in scores),
        "types": _types(scores),
        "false_alarms": len(false),
        "false_per_home_per_60_days": _per_60(len(false), days),
        "false_by_kind": _count(false),
        "false_any_window_per_home_per_60_days": _per_60(sum(s.false_any_window for s in scores), days),
        "device_false": len(device),
        "device_false_per_home_per_60_days": _per_60(len(device), days),
        "device_false_by_kind": _count(device),
        "windows_only": dict(sorted(windows.items())),
        "labels_not_scored": dict(sorted(unknown.items())),
        "calibration": calibration(scores),
        "missed_long_lies": summarise_misses(scores),
        "input_rows_reordered": sum(s.reordered for s in scores),
        "input_rows_duplicated": sum(s.duplicates for s in scores),
        "per_home": [
            {
                "home": s.home,
                "profile": s.profile,
                "kit": s.kit,
                "days": round(s.days, 1),
                "false_alarms": len(s.false_alarms),
                "false_per_60_days": round(len(s.false_alarms) / s.days * 60, 2),
                "predicted_false_per_60_days": s.predicted_false_60d,
                "first_false": s.false_alarms[:5],
                "device_false": s.device_false[:5],
                "missed": [typ for typ, _w, d in s.hits if d is None],
            }
            for s in scores
        ],
    }


def by_kit(scores: list[HomeScore]) -> dict[str, dict[str, Any]]:
    """`summarise` for each sensor kit's homes."""
    kits: dict[str, list[HomeScore]] = defaultdict(list)
    for s in scores:
        kits[s.kit or "-"].append(s)
    return {kit: summarise(ss) for kit, ss in sorted(kits.items())}


def _f(v: object) -> str:
    return "-" if v is None else str(v)


def _kit_row(kit: str, s: dict[str, Any]) -> str:
    lie = s["types"].get("long_lie", {"n": 0, "found": 0, "recall": None})
    cal = s["calibration"]["predicted_per_home_per_60_days"]
    return (
        f"| {kit} | {s['homes']} | {lie['found']} / {lie['n']} | {_f(lie['recall'])} | "
        f"{_f(lie.get('median_delay_min'))} | {_f(lie.get('p95_delay_min'))} | "
        f"{_f(s['false_per_home_per_60_days'])} | {_f(cal)} |"
    )


def source_table(name: str, summary: dict[str, Any], kits: dict[str, dict[str, Any]]) -> str:
    """One source as Markdown: long lies and false alerts by kit, calibration, then every incident type."""
    s = summary
    lines = [
        f"## {name}: {s['homes']} homes, {s['home_days']} home-days, {s['events']} events",
        "",
        "| kit | homes | long lies >= 30 min found | recall | median delay (min) | p95 delay (min) "
        "| false person alerts / home / 60 d | predicted |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        _kit_row("all", s),
        *(_kit_row(kit, k) for kit, k in kits.items()),
    ]
    cal = s["calibration"]
    lines.append(
        f"\ncalibration: predicted {_f(cal['predicted_per_home_per_60_days'])} vs observed "
        f"{_f(cal['observed_per_home_per_60_days'] if cal['homes_predicting'] else s['false_per_home_per_60_days'])}"
        f" false person alerts per home per 60 d ({cal['homes_predicting']} of {s['homes']} homes state a prediction)"
    )
    lines += ["", "| incident | n | recall | median delay (min) | p95 delay (min) |", "| --- | --- | --- | --- | --- |"]
    for typ, v in s["types"].items():
        lines.append(
            f"| {typ} | {v['n']} | {_f(v['recall'])} | {_f(v['median_delay_min'])} | {_f(v['p95_delay_min'])} |"
        )
    lines.append(
        f"\nfalse critical+warning person alerts: {s['false_alarms']} = {_f(s['false_per_home_per_60_days'])} per home"
        f" per 60 d, by kind {s['false_by_kind']}; counting any labelled window as an excuse:"
        f" {_f(s['false_any_window_per_home_per_60_days'])}"
    )
    lines.append(
        f"device alerts no label explains: {s['device_false']} = {_f(s['device_false_per_home_per_60_days'])} per home"
        f" per 60 d, by kind {s['device_false_by_kind']}; labels that are only windows: {s['windows_only']}"
    )
    if s.get("labels_not_scored"):
        lines.append(
            f"labels of a type this scoring does not know, not scored: {s['labels_not_scored']}"
            f" (hint: types are {', '.join(sorted(t for t in DETECTS if t != SHORT_LIE))})"
        )
    return "\n".join(lines)
