"""The registration form's kit lines: "sensor kind [room] [role] [room_type=TYPE] [hold_s=SECONDS]"."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from console.queries.registry import RegistryError, SensorIn, typed_number
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
        ("pir1 motion r2 room_type=attic", "literal_error"),
        ("pir1 motion room_type=bedroom", "room_type_without_room"),
        ("pir1 motion r2 hold_s=soon", "float_type"),  # text, not a number: the strict model names the field
        ("pir1 motion r2 hold_s=1_0", "float_type"),  # not ten
        ("door1 door entrance hold_s=30", "hold_s_not_motion"),
    ],
)
def test_kit_lines_whose_named_words_say_nothing_true_are_refused_by_the_model(line: str, why: str) -> None:
    with pytest.raises(ValidationError) as err:
        SensorIn.model_validate(parse_kit(line)[0])
    assert err.value.errors()[0]["type"] == why


@pytest.mark.parametrize(
    ("line", "key", "word"),
    [
        ("p1 motion r2 bed extra", "registry.error.kit_extra", "extra"),  # dropped silently before
        ("p1 motion sensor=p9", "registry.error.kit_named", "sensor=p9"),  # would register p9, not p1
        ("p1 motion r2 room=r3", "registry.error.kit_named", "room=r3"),
        ("p1 motion r2 type=bedroom", "registry.error.kit_named", "type=bedroom"),
        ("a motion r2 room_type=bedroom room_type=kitchen", "registry.error.kit_named", "room_type=kitchen"),
    ],
)
def test_kit_lines_settle_nothing_silently(line: str, key: str, word: str) -> None:
    with pytest.raises(RegistryError) as err:
        parse_kit("ok motion hall\n\n" + line)
    assert (err.value.key, err.value.params) == (key, {"line": 3, "word": word})  # the line as seen, blanks counted


@pytest.mark.parametrize(
    ("typed", "read"), [("30", 30.0), ("+4.5e1", 45.0), ("5e-05", 5e-05), (".5", 0.5), ("-1", -1.0)]
)
def test_a_number_is_read_as_a_person_or_an_export_writes_it(typed: str, read: float) -> None:
    assert typed_number(typed) == read


@pytest.mark.parametrize("typed", ["1_0", "nan", "inf", "30s", "３０", "0x1e"])
def test_what_is_no_number_stays_text_for_the_model_to_refuse(typed: str) -> None:
    assert typed_number(typed) == typed


def test_the_engines_room_classes_are_the_registrys_room_types() -> None:
    from anomaly.const import ROOM_CLASSES, ROOM_WORDS, room_class

    assert set(ROOM_TYPES) == ROOM_CLASSES
    assert {cls for cls, _words in ROOM_WORDS} <= ROOM_CLASSES
    assert room_class("antichambre") == "hall" and room_class("chambre") == "bedroom"
