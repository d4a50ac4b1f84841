"""`anxin eval DIR [DIR ...]`: every source scored, as text tables or one JSON document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from anomaly.limits import HomeLimits
from anomaly.recording import input_fixes
from contracts.vocabulary import FALSE_ALARM_BUDGET
from evaluation.bound import LieBound, bound_rooms, bound_summary, stillness_bound
from evaluation.homes import evaluate_many, home_dirs
from evaluation.misses import misses_line
from evaluation.scoring import HomeScore
from evaluation.summary import by_kit, source_table, summarise

VERDICTS_NOTE = (
    "(--verdicts: every long_inactivity alarm answered at once, needed_help inside a labelled long lie, else "
    "false_alarm; the judged scoring has no verdicts)\n"
)


def source_names(roots: list[Path]) -> list[str]:
    """A short name per source folder: its name, or the path as given when two share a name."""
    names = [r.resolve().name or str(r) for r in roots]
    return [n if names.count(n) == 1 else str(r) for n, r in zip(names, roots, strict=True)]


def _bounds(root: Path, scores: list[HomeScore]) -> list[LieBound]:
    kits = {s.home: s.kit for s in scores}
    return [b for h in home_dirs(root) for b in stillness_bound(h, kits.get(h.name))]


def run(
    roots: list[Path], jobs: int = 0, bound: bool = False, verdicts: bool = False, limits: HomeLimits | None = None
) -> tuple[dict[str, Any], list[list[HomeScore]]]:
    """Score every source; the JSON-ready result (`sources`: name -> path, summary, kits[, stillness_bound])."""
    all_scores = evaluate_many(roots, jobs=jobs, verdicts=verdicts, limits=limits)
    sources: dict[str, Any] = {}
    for name, root, scores in zip(source_names(roots), roots, all_scores, strict=True):
        entry: dict[str, Any] = {"path": str(root), "summary": summarise(scores), "kits": by_kit(scores)}
        if bound:
            bounds = _bounds(root, scores)
            entry["stillness_bound"] = bound_summary(bounds)
            entry["stillness_bound_rooms"] = bound_rooms(bounds)
        sources[name] = entry
    budget = (limits or HomeLimits()).false_alarm_budget_per_60d
    return {"sources": sources, "verdicts": verdicts, "budget_per_60d": budget}, all_scores


def text(result: dict[str, Any]) -> str:
    """Every source's tables, one after the other."""
    out = []
    if result.get("verdicts"):
        out.append(VERDICTS_NOTE)
    budget = result.get("budget_per_60d", FALSE_ALARM_BUDGET)
    if budget != FALSE_ALARM_BUDGET:
        out.append(
            f"(--budget {budget:g}: each home's false long_inactivity alarms aimed at per 60 days; default"
            f" {FALSE_ALARM_BUDGET:g})\n"
        )
    for name, src in result["sources"].items():
        out.append(source_table(name, src["summary"], src["kits"]))
        fixed = src["summary"].get("input_rows_reordered", 0), src["summary"].get("input_rows_duplicated", 0)
        if any(fixed):
            out.append(f"input: {input_fixes(*fixed)}")
        if src["summary"].get("missed_long_lies"):
            out.append(misses_line(src["summary"]["missed_long_lies"]))
        for kit, row in src.get("stillness_bound", {}).items():
            out.append(
                f"long lies >= 30 min, {kit}: {row['lies']}; outlasted by 1+ / 2+ ordinary stillnesses in the same"
                f" place and hour: {row['outlasted_1']:.2f} / {row['outlasted_2']:.2f}; a 30-min find needs a limit"
                f" ordinary stillness passed: {row['passed_30_min']:.2f}"
            )
        rooms = src.get("stillness_bound_rooms", {})
        if rooms:
            out.append(
                "where the lies began (room of the last sensor before the fall: lies, share outlasted by 1+ / 2+"
                " ordinary stillnesses there, sensors there): "
                + "; ".join(
                    f"{r}: {v['lies']}, {v['outlasted_1']:.2f} / {v['outlasted_2']:.2f}, {v['sensors']}"
                    for r, v in rooms.items()
                )
            )
            out += _blind_rooms(rooms)
        out.append("")
    return "\n".join(out)


BLIND_MIN_LIES = 3  # a room named as blind has at least this many lies: one lie says little


def _blind_rooms(rooms: dict[str, Any]) -> list[str]:
    """Rooms where at least half the lies were outlasted twice (see `bound_rooms`), and the sensor that would help."""
    out = []
    for room, v in rooms.items():
        if v["lies"] < BLIND_MIN_LIES or float(v["outlasted_2"]) < 0.5:
            continue
        through_doors = set(str(v["sensors"]).replace("/", "+").split("+")) <= {"door", "contact"}
        helps = "a motion sensor in the room itself" if through_doors else "a sensor that sees the floor there"
        out.append(
            f"{room}: at least half its {v['lies']} lies were outlasted twice by ordinary stillness there: no"
            f" stillness rule finds them within the budget; {helps} would"
        )
    return out


def to_json(result: dict[str, Any]) -> str:
    """The result as indented JSON."""
    return json.dumps(result, indent=1, ensure_ascii=False)
