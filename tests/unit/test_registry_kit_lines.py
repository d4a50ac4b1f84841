"""The registration form's kit lines: "sensor kind [room] [role] [room_type=TYPE] [hold_s=SECONDS]"."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from console.queries.registry import SensorIn
from console.routers.registry import parse_kit
from contracts.vocabulary import ROOM_TYPES


def test_kit_lines_read_positional_words_and_named_ones_wherever_they_stand() -> None:
    lines = "bed1 pressure bedroom bed\npir_r2 motion r2 room_type=bedroom hold_s=30\npir3, motion, hold_s=8, r3\n"
    got = [SensorIn.model_validate(x) for x in parse_kit(lines)]
    assert [(x.sensor, x.kind, x.room, x.role, x.room_type, x.hold_s) for x in got] == [
        ("bed1", "pressure", "bedroom", "bed", None, None),
        ("pir_r2", "motion", "r2", None, "bedroom", 30.0),
        ("pir3", "motion", "r3", None, None, 8.0),
    ]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("pir1 motion r2 type=bedroom", "extra_forbidden"),  # a name of no field is refused, not dropped
        ("pir1 motion r2 room_type=attic", "literal_error"),
        ("pir1 motion room_type=bedroom", "room_type needs a room"),
        ("pir1 motion r2 hold_s=soon", "float_parsing"),
    ],
)
def test_kit_lines_with_a_named_word_that_says_nothing_true_are_refused(line: str, why: str) -> None:
    with pytest.raises(ValidationError) as err:
        SensorIn.model_validate(parse_kit(line)[0])
    assert why in str(err.value) or why in {e["type"] for e in err.value.errors()}


def test_the_engines_room_classes_are_the_registrys_room_types() -> None:
    from anomaly.const import ROOM_CLASSES, ROOM_WORDS, room_class

    assert set(ROOM_TYPES) == ROOM_CLASSES
    assert {cls for cls, _words in ROOM_WORDS} <= ROOM_CLASSES
    assert room_class("antichambre") == "hall" and room_class("chambre") == "bedroom"
