"""A reading is no one's doing; a switch is, in whatever words it comes (docs/anomaly-history.md, "Ninth round").

Each report is judged on its own: a plug that reported watts still switches, a light switched `on` is someone, a light
meter's 0 or 1 lux in the dark is not, and the live wire's 1.0 or "Opened" reads as replay reads a file.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.anomaly_fixtures import monitor

T0 = datetime(2025, 3, 3, 9, tzinfo=UTC).timestamp()


def _moves(reports: list[tuple[str, int | float | str]]) -> list[bool]:
    """Whether each report, a minute after the one before, was taken for someone moving."""
    m = monitor()
    m.observe_at(T0, "pir", "motion", 1, "living")
    out = []
    for i, (kind, value) in enumerate(reports, start=1):
        m.observe_at(T0 + 60 * i, "x", kind, value, "kitchen")
        out.append(m.where.last_act == T0 + 60 * i)
    return out


@pytest.mark.parametrize(
    ("reports", "moved"),
    [
        ([("temperature", 21.5), ("temperature", 0)], [False, False]),
        ([("light", 0), ("light", 1), ("light", 250), ("light", "on")], [False, False, False, True]),
        ([("power", 1500), ("power", 1)], [False, True]),  # a plug that reported watts still switches
        ([("contact", 85), ("contact", "open")], [False, True]),
        ([("flush", 2), ("flush", 1.0)], [False, True]),  # the live wire's 1.0 is 1
        ([("contact", "Opened"), ("contact", "detected"), ("contact", "yes")], [True, True, True]),
    ],
)
def test_readings_move_nobody_and_switches_do_in_any_words(
    reports: list[tuple[str, int | float | str]], moved: list[bool]
) -> None:
    assert _moves(reports) == moved


def test_a_reading_ends_no_silence() -> None:
    m = monitor()
    m.observe_at(T0, "pir", "motion", 1, "living")
    m.observe_at(T0 + 30, "pir", "motion", 0, "living")
    before = (m.idle.last, m.idle.ctx)
    for i in range(1, 12):
        m.observe_at(T0 + 300 * i, "t1", "temperature", 20 + i / 10, "kitchen")
    assert (m.idle.last, m.idle.ctx) == before
