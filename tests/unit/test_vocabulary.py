"""The shared vocabulary: every code that is emitted has a label in zh-CN and en, and each list is written once."""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts import outbox, templates
from anxin import catalogue
from console.i18n import MESSAGES, SUPPORTED
from contracts import vocabulary as v

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ["alerts", "anomaly", "anxin", "console", "contracts", "edge", "ingest", "firmware-sim/firmware_sim", "shell"]
CJK = re.compile(r"[\u4e00-\u9fff]")
# What the console shows as an SMS status: the outbox row's own status, or the provider's delivery status.
SMS_STATUSES = tuple(getattr(outbox, name) for name in dir(outbox) if name.startswith("OUTBOX_")) + tuple(
    outbox.DELIVERY_STATUSES
)

# Each group of codes and the catalogue prefix its console labels use.
GROUPS: dict[str, tuple[str, ...]] = {
    "kind": tuple(k.value for k in v.FindingKind),
    "severity": v.SEVERITIES,
    "outcome": v.OUTCOMES,
    "state": v.ALERT_STATES,
    "event": v.TIMELINE_ACTIONS,
    "reason": tuple(r.value for r in v.DeadLetterReason),
    "sms": tuple(dict.fromkeys(SMS_STATUSES)),
    "room": v.ROOM_TYPES,
}


def _labels() -> Iterator[tuple[str, str, str]]:
    for lang in SUPPORTED:
        for group, codes in GROUPS.items():
            for code in codes:
                yield lang, group, code


@pytest.mark.parametrize(("lang", "group", "code"), list(_labels()))
def test_every_code_has_a_console_label(lang: str, group: str, code: str) -> None:
    entry = MESSAGES[lang].get(f"{group}.{code}")
    assert entry is not None, f"{lang}: no label {group}.{code}"
    for text in catalogue.forms(entry).values():
        assert text.strip()
        if lang == "zh-CN":
            assert CJK.search(text), f"zh-CN label of {group}.{code} is not Chinese: {text!r}"


def test_the_groups_are_not_empty_and_hold_no_duplicates() -> None:
    for group, codes in GROUPS.items():
        assert codes, group
        assert len(set(codes)) == len(codes), group
    assert set(v.CLOSED_STATES) <= set(v.ALERT_STATES) and set(v.ACTIVE_STATES) <= set(v.ALERT_STATES)
    assert set(v.CLOSED_STATES).isdisjoint(v.ACTIVE_STATES)
    assert sorted(v.SEVERITY_ORDER, key=v.SEVERITY_ORDER.__getitem__) == ["critical", "warning", "info"]


@pytest.mark.parametrize("lang", templates.SUPPORTED_LANGS)
def test_sms_and_mobile_page_have_every_kind_state_and_outcome(lang: str) -> None:
    for kind in v.FindingKind:
        assert templates.KIND_TEXT[lang].get(kind.value), (lang, kind)
    for state in v.ALERT_STATES:
        assert templates.PAGE[lang].get(f"state.{state}"), (lang, state)
    for outcome in v.OUTCOMES:
        assert templates.PAGE[lang].get(outcome), (lang, outcome)


def test_sms_catalogues_agree_between_languages() -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    zh, en = templates.CATALOGUE["zh-CN"], templates.CATALOGUE["en"]
    assert set(zh) == set(en)
    for key, entry in zh.items():
        assert fields(catalogue.choose(entry, "zh-CN", {})) == fields(catalogue.choose(en[key], "en", {})), key


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for package in RUNTIME:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # history: a migration keeps the words of its day
            yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _event_actions(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Literal actions passed to a timeline writer: `event(session, alert_id, now, actor, "action", detail)`."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) < 5:
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        action = node.args[4]
        if name == "event" and isinstance(action, ast.Constant) and isinstance(action.value, str):
            yield node.lineno, action.value


def test_every_timeline_action_written_is_in_the_vocabulary() -> None:
    unknown = [
        f"{path.relative_to(ROOT)}:{line}: {action}"
        for path, tree in _sources()
        for line, action in _event_actions(tree)
        if action not in v.TIMELINE_ACTIONS
    ]
    assert unknown == [], "timeline actions missing from contracts/vocabulary.py (and so from the catalogues)"


# The lists the issue found written several times; a literal collection holding this many of one list's words
# outside contracts/vocabulary.py is a copy of it.
COPIES = {
    "outcomes": (set(v.OUTCOMES), 3),
    "alert states": (set(v.ALERT_STATES), 3),
    "severities": (set(v.SEVERITIES), 3),
    "measurements": (set(v.MEASUREMENTS), 2),
}


def _literal_strings(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        items = node.elts
    elif isinstance(node, ast.Dict) and all(isinstance(value, ast.Constant) for value in node.values):
        items = [k for k in node.keys if k is not None]  # a map of codes to constants: a rank, say (not a config)
    else:
        return set()
    return {e.value for e in items if isinstance(e, ast.Constant) and isinstance(e.value, str)}


def test_no_list_of_the_vocabulary_is_written_again() -> None:
    copies = []
    for path, tree in _sources():
        if path == ROOT / "contracts" / "vocabulary.py":
            continue
        for node in ast.walk(tree):
            words = _literal_strings(node)
            for name, (group, least) in COPIES.items():
                if len(words & group) >= least:
                    copies.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}: {name}")
    assert copies == [], "import these from contracts.vocabulary instead"


def _audit_actions() -> Iterator[tuple[str, int, str]]:
    """Actions passed to audit(session, now, actor, "action", ...) in console/, both sides of `x if c else y`."""
    for path, tree in _sources():
        if path.relative_to(ROOT).parts[0] != "console":
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or len(node.args) < 4:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name != "audit":
                continue
            arg = node.args[3]
            for option in [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]:
                assert isinstance(option, ast.Constant), f"{path}:{node.lineno}: an audit action must be a literal"
                yield str(path.relative_to(ROOT)), node.lineno, str(option.value)


def test_every_audit_action_has_a_label() -> None:
    actions = list(_audit_actions())
    assert len(actions) >= 10, "the walk no longer finds the audit calls"
    for lang in SUPPORTED:
        missing = [f"{p}:{line}: {a}" for p, line, a in actions if f"audit_action.{a}" not in MESSAGES[lang]]
        assert missing == [], lang
