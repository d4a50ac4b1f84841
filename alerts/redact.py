"""Keep phone numbers and secrets out of logs, timelines and stored error text."""

from __future__ import annotations

import re
from collections.abc import Iterable

# E.164 with optional single spaces or dashes; a Chinese mobile written without +86; any bare run of 8-15 digits.
# Dates (2024-05-01) and Twilio SIDs (hex inside a word) are left alone.
_PHONE_RE = re.compile(
    r"\+\d(?:[ -]?\d){6,14}"
    r"|(?<![\w+])1[3-9]\d(?:[ -]?\d){8}(?!\w)"
    r"|(?<![\w+])\d{8,15}(?!\w)"
)


def mask_phone(number: str) -> str:
    """Mask a phone number for display: +8613812341234 -> +86******1234."""
    digits = [c for c in number if c.isdigit()]
    if len(digits) < 7:
        return "*" * len(digits)
    plus = "+" if number.strip().startswith("+") else ""
    head = digits[:2] if plus else []
    tail = digits[-4:]
    return plus + "".join(head) + "*" * (len(digits) - len(head) - len(tail)) + "".join(tail)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Text with the given secrets replaced by *** and every phone-like number masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _PHONE_RE.sub(lambda m: mask_phone(m.group(0)), text)
