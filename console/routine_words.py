"""A home's learned routine (the anomaly engine's summary) said in plain words, in the page's language.

The summary's fields are listed in anomaly/engine.py (HomeMonitor.summary); every sentence here comes from the
catalogues (routine.* keys), so the Chinese page says it in Chinese. Fields this module does not know are left out:
the JSON API still has them."""

from __future__ import annotations

from typing import Any

from console.i18n import Translator


def routine_sentences(summary: dict[str, Any], t: Translator) -> list[str]:
    """The day's shape and the thresholds: wake and bed time, outings, the door and night limits, false alarms."""
    out = []
    wake, late, bed = summary.get("usual_wake"), summary.get("late_wake"), summary.get("usual_bed")
    if wake and bed:
        out.append(t("routine.day", wake=wake, bed=bed))
    if late:
        out.append(t("routine.late_wake", late=late))
    outing = _int(summary.get("usual_outing_min"))
    if outing:
        out.append(t("routine.outing", n=outing))
    door = _int(summary.get("door_open_limit_min"))
    if door:
        out.append(t("routine.door_limit", n=door))
    night = _int(summary.get("night_exit_limit_min"))
    if night:
        out.append(t("routine.night_exit_limit", n=night))
    mats = summary.get("mat_roles")
    if isinstance(mats, dict) and mats:
        named = [t("routine.mat_is", sensor=s, role=t.label("mat_role", r or "unknown")) for s, r in mats.items()]
        out.append(t("routine.mats", mats=t("routine.list_sep").join(named)))
    out += _rooms(summary.get("rooms"), t)
    fa = summary.get("expected_false_alarms_per_60d")
    if isinstance(fa, int | float):
        out.append(t("routine.false_alarms", n=f"{fa:g}"))
    now = _now(summary, t)
    if now:
        out.append(now)
    return out


def _rooms(rooms: object, t: Translator) -> list[str]:
    """Rooms whose name is not their type, as the engine reads them; and those it cannot tell, for the installer."""
    if not isinstance(rooms, dict):
        return []
    read = {str(r): str(c) for r, c in rooms.items() if c != "other" and r != c}
    unread = [str(r) for r, c in rooms.items() if c == "other"]
    out = []
    if read:
        named = [t("routine.room_is", room=r, type=t.label("room", c)) for r, c in read.items()]
        out.append(t("routine.rooms", rooms=t("routine.list_sep").join(named)))
    if unread:
        out.append(t("routine.rooms_unread", rooms=t("routine.list_sep").join(unread)))
    return out


def stillness_sentences(summary: dict[str, Any], t: Translator) -> list[str]:
    """One sentence per usual moment of stillness: after what, when, how often, the longest seen, the alert limit."""
    rows = summary.get("stillness")
    if not isinstance(rows, list):
        return []
    roles = summary.get("mat_roles") if isinstance(summary.get("mat_roles"), dict) else {}
    out = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        moment = _moment(row, roles or {}, t)
        out.append(
            t(
                "routine.still",
                moment=moment,
                hours=str(row.get("hours", "")),
                per_day=f"{float(row.get('per_day') or 0):.1f}",
                longest=_int(row.get("longest_min")),
                limit=_int(row.get("limit_min")),
            )
        )
    return out


def _moment(row: dict[str, Any], roles: dict[str, str], t: Translator) -> str:
    """What happened just before the stillness: "the bed mat is released", "movement in the kitchen"."""
    sensor, value = str(row.get("sensor", "")), str(row.get("value", ""))
    room = t.label("room", row.get("room")) if row.get("room") else ""
    room = room.lower() if t.lang == "en" else room  # "movement in the kitchen", mid-sentence
    role = roles.get(sensor) or ("bed" if "bed" in sensor.lower() else "")
    if sensor in roles or "mat" in sensor.lower() or role:
        key = "routine.moment.mat_on" if value in ("1", "1.0", "on", "true") else "routine.moment.mat_off"
        text = t(key, mat=t.label("mat_role", role or "unknown"), room=room)
    elif "door" in sensor.lower() or value in ("open", "closed"):
        text = t("routine.moment.door_open" if value == "open" else "routine.moment.door_closed")
    elif value == "press":
        text = t("routine.moment.press")
    else:
        text = t("routine.moment.motion", room=room or sensor)
    held = str(row.get("held") or "")
    if held and held != sensor:
        text += t("routine.moment.held", mat=t.label("mat_role", roles.get(held) or "unknown"))
    return text


def _now(summary: dict[str, Any], t: Translator) -> str | None:
    presence, asleep = summary.get("presence"), summary.get("asleep")
    if not presence:
        return None
    state = t.label("presence", str(presence))
    if asleep:
        state += t("routine.list_sep") + t("routine.asleep")
    return t("routine.now", state=state)


def _int(value: object) -> int:
    return round(value) if isinstance(value, int | float) else 0
