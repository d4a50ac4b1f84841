"""Keep phone numbers and secrets out of logs, timelines and stored error text."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable

# E.164 with optional single spaces or dashes; a Chinese mobile written without +86; any bare run of 8-15 digits.
# Dates (2024-05-01) and Twilio SIDs (hex inside a word) are left alone.
_PHONE_RE = re.compile(
    r"\+\d(?:[ -]?\d){6,14}"
    r"|(?<![\w+])1[3-9]\d(?:[ -]?\d){8}(?!\w)"
    r"|(?<![\w+])\d{8,15}(?!\w)"
)


def mask_phone(number: str, key: bytes | None = None) -> str:
    """Mask a phone number for display: +8613812341234 -> +86*******1234, with `key` -> +86*******1234#3fa2.

    The keyed tag (HMAC of the digits) tells apart two numbers with the same last digits, and cannot be reversed
    by trying the few million numbers that share the visible ones without the key.
    """
    digits = [c for c in number if c.isdigit()]
    if len(digits) < 7:
        return "*" * len(digits)
    plus = "+" if number.strip().startswith("+") else ""
    head = digits[:2] if plus else []
    tail = digits[-4:]
    masked = plus + "".join(head) + "*" * (len(digits) - len(head) - len(tail)) + "".join(tail)
    if key is None:
        return masked
    return masked + "#" + hmac.new(key, "".join(digits).encode(), hashlib.sha256).hexdigest()[:4]


def redact(text: str, secrets: Iterable[str | None] = (), mask: Callable[[str], str] = mask_phone) -> str:
    """Text with the given secrets replaced by *** and every phone-like number passed through `mask`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _PHONE_RE.sub(lambda m: mask(m.group(0)), text)
