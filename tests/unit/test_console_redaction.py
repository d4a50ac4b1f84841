"""The console's Redactor and log-in throttle: what each role may read of an SMS, and waits that never lock out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console.redaction import Redactor
from console.throttle import LoginThrottle

BODY = "【安心】东湖社区7-305：按下了紧急呼叫按钮，14:00起。请尽快查看，回复 K7MP3 表示由您处理。 https://a.example.org/x/l/AAAABgAAAAMByOd8KjAHhXvh"
OPERATOR, VIEWER = Redactor(b"k", personal=True), Redactor(b"k", personal=False)


def test_links_are_gone_for_everyone_and_codes_for_viewers() -> None:
    for red in (OPERATOR, VIEWER):
        assert "/l/" not in red.text(BODY) and "[link]" in red.text(BODY)
    assert "K7MP3" in OPERATOR.text(BODY, ["K7MP3"])
    assert "K7MP3" not in VIEWER.text(BODY, ["K7MP3"]) and "K7MP3" not in VIEWER.text(BODY)
    assert VIEWER.code("K7MP3") is None and OPERATOR.code("K7MP3") == "K7MP3"


def test_every_number_format_is_masked_and_masks_do_not_collide() -> None:
    formats = ["+8613812345678", "+86 138 1234 5678", "+86-138-1234-5678", "13812345678"]
    masks = {OPERATOR.number(n) for n in formats[:3]}
    assert len(masks) == 1 and str(next(iter(masks))).startswith("+86*******5678#")  # one number, one mask
    assert OPERATOR.number("+8613955555678") not in masks  # same last digits, another number
    for n in formats:
        assert "1234" not in (OPERATOR.number(n) or "") and VIEWER.number(n) is None
        text = f"The 'To' number {n} is not valid."
        assert "5678" not in VIEWER.text(text) and "[number]" in VIEWER.text(text)
        assert "1234" not in OPERATOR.text(text) and "*5678#" in OPERATOR.text(text)


def test_throttle_waits_grow_from_two_seconds_and_are_per_address() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    throttle = LoginThrottle(free=3, cap_s=60)
    for i in range(3):
        assert throttle.wait("op", "10.0.0.1", t0) == 0
        throttle.failed("op", "10.0.0.1", t0 + timedelta(seconds=i))
    assert throttle.wait("op", "10.0.0.1", t0 + timedelta(seconds=2)) == 2.0
    assert throttle.wait("op", "10.0.0.2", t0) == 0  # another address is not held up
    for _ in range(10):
        throttle.failed("op", "10.0.0.1", t0)
    assert throttle.wait("op", "10.0.0.1", t0) == 60  # capped, never a lock-out
    assert throttle.unlock("op") == 1 and throttle.wait("op", "10.0.0.1", t0) == 0
