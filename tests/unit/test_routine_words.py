"""The learned routine in words (console/routine_words.py): both languages, and a summary with missing or odd
fields (an older engine, a partly learned home) never breaks the page."""

from __future__ import annotations

from console.i18n import translator
from console.routine_words import routine_sentences, stillness_sentences

SUMMARY = {
    "usual_wake": "06:45",
    "late_wake": "08:10",
    "usual_bed": "22:05",
    "stillness": [
        {
            "sensor": "mat-bed",
            "value": "0",
            "held": "",
            "room": "bedroom",
            "hours": "00-06",
            "per_day": 1.2,
            "longest_min": 7,
            "limit_min": 20,
        },
        {
            "sensor": "pir-bath",
            "value": "1",
            "held": "mat-seat",
            "room": "bathroom",
            "hours": "06-12",
            "per_day": 3.0,
            "longest_min": 25,
            "limit_min": 60,
        },
    ],
    "expected_false_alarms_per_60d": 0.35,
    "mat_roles": {"mat-bed": "bed", "mat-seat": "seat"},
    "door_open_limit_min": 1,
    "presence": "home",
    "asleep": True,
}


def test_english_sentences() -> None:
    t = translator("en")
    lines = routine_sentences(SUMMARY, t)
    assert lines[0] == "Usually gets up around 06:45 and goes to bed around 22:05."
    assert "The front door left open longer than 1 minute raises an alert." in lines
    assert "Pressure mats: mat-bed is the bed mat, mat-seat is the chair mat." in lines
    assert lines[-1] == "Now: at home, asleep."
    still = stillness_sentences(SUMMARY, t)
    assert still[0] == (
        "00-06 h, after the bed mat is released (about 1.2 times a day): still for 7 min at most so far; "
        "alert after 20 min."
    )
    assert "after movement in the bathroom (while on the chair mat)" in still[1]


def test_chinese_sentences() -> None:
    t = translator("zh-CN")
    assert routine_sentences(SUMMARY, t)[0] == "通常 06:45 左右起床，22:05 左右睡觉。"
    assert stillness_sentences(SUMMARY, t)[0].startswith("00-06 时，离开床垫之后（每天约 1.2 次）")


def test_odd_summaries_give_fewer_sentences_not_errors() -> None:
    t = translator("en")
    for odd in ({}, {"stillness": "x", "mat_roles": [1]}, {"stillness": [None, 3, {"sensor": 5}]},
                {"usual_wake": "07:00", "expected_false_alarms_per_60d": "many", "presence": None}):  # fmt: skip
        routine_sentences(odd, t)
        stillness_sentences(odd, t)
    assert routine_sentences({}, t) == []


def test_rooms_are_said_as_the_engine_reads_them_and_those_it_cannot_tell_are_named() -> None:
    rooms = {"bedroom": "bedroom", "r2": "bedroom", "keuken": "kitchen", "r3": "other", "attic": "other"}
    en = routine_sentences({"rooms": rooms}, translator("en"))
    assert en == [
        "Rooms read as: Bedroom (r2), Kitchen (keuken).",  # a room named for its type goes unsaid
        "Rooms it cannot tell from their names: r3, attic. If one is a bedroom or bathroom, give its room type on the "
        "install page.",
    ]
    zh = routine_sentences({"rooms": rooms}, translator("zh-CN"))
    assert zh[0] == "房间识别为：卧室（r2），厨房（keuken）。" and zh[1].startswith("无法从名称判断的房间：r3，attic。")
    assert routine_sentences({"rooms": {"bedroom": "bedroom"}}, translator("en")) == []
    assert routine_sentences({"rooms": ["r2"]}, translator("en")) == []  # an odd summary: nothing, not an error
