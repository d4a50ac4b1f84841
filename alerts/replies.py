"""Reply codes, SMS replies and signed links, as pure functions: what a text means, tokens for the mobile page."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re
import struct
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

# No 0/O/Q, 1/I/L, 2/Z, 5/S, 6/G, 8/B: a code read off a small screen and typed on a keypad stays unambiguous.
CODE_ALPHABET = "34679ACDEFHJKMNPRTUVWXY"
CODE_LENGTH = 5


def reply_code(rng: random.Random, length: int = CODE_LENGTH) -> str:
    """A short reply code drawn from `rng` (SystemRandom in service, seeded Random in tests)."""
    return "".join(rng.choice(CODE_ALPHABET) for _ in range(length))


class ReplyKind(StrEnum):
    """What a responder's SMS asks for."""

    ACK = "ack"
    RESOLVE = "resolve"
    HELP = "help"
    STOP = "stop"
    START = "start"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Reply:
    """A parsed reply; `code` is set for ACK and RESOLVE."""

    kind: ReplyKind
    code: str | None = None
    rating: int | None = None  # RESOLVE only: "2 <code> <1-5>"


_STOP = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "TD", "T", "退订", "取消"}
_START = {"START", "UNSTOP", "YES", "订阅"}
_HELP = {"HELP", "INFO", "?", "帮助", "H"}
# The code alphabet has no 1 or 2, so "1K7MP3" and "2K7MP3" read unambiguously even without the space.
_CODE = f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}"
_ACK_RE = re.compile(rf"^(?:1[\s.,:#-]*)?({_CODE})$")
# "2 K7MP3" resolves; "2 K7MP3 5" resolves with a 1-5 rating (how a help request went).
_RESOLVE_RE = re.compile(rf"^2[\s.,:#-]*({_CODE})(?:[\s.,:#-]+([1-5]))?$")
_CODE_LIKE_RE = re.compile(r"^(?:[12][\s.,:#-]*)?([A-Z0-9]{4,8})$")


def normalise(body: str) -> str:
    """Full-width letters and digits folded, upper-cased, trimmed; what phones in China often send."""
    return " ".join(unicodedata.normalize("NFKC", body).upper().split())


def parse_reply(body: str) -> Reply:
    """Read a reply: `<code>` or `1 <code>` acknowledges, `2 <code>` resolves as fine; HELP, STOP, START."""
    text = normalise(body).strip(" .!。！")
    if text in _STOP:
        return Reply(ReplyKind.STOP)
    if text in _START:
        return Reply(ReplyKind.START)
    if text in _HELP:
        return Reply(ReplyKind.HELP)
    if m := _RESOLVE_RE.match(text):
        return Reply(ReplyKind.RESOLVE, m.group(1), int(m.group(2)) if m.group(2) else None)
    if m := _ACK_RE.match(text):
        return Reply(ReplyKind.ACK, m.group(1))
    if m := _CODE_LIKE_RE.match(text):  # looks like a code but is not one of ours: answered as an unknown code
        return Reply(ReplyKind.UNKNOWN, m.group(1))
    return Reply(ReplyKind.UNKNOWN)


# Signed links: alert id, responder id (0 for none) and expiry in minutes since the epoch, then a truncated HMAC.
_PAYLOAD = struct.Struct(">III")
_MAC_BYTES = 12


@dataclass(frozen=True)
class LinkClaim:
    """Who a link was made for, and until when it works."""

    alert_id: int
    responder_id: int | None
    expires: datetime


def sign_link(secret: bytes, alert_id: int, responder_id: int | None, expires: datetime) -> str:
    """A URL-safe token for the mobile page of one alert and one responder, valid until `expires`."""
    minutes = int(expires.timestamp() // 60)
    payload = _PAYLOAD.pack(alert_id, responder_id or 0, minutes)
    mac = hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")


@dataclass(frozen=True)
class LinkMaker:
    """Makes the signed, expiring link to the mobile page that each alert SMS carries."""

    base_url: str
    secret: bytes
    ttl: timedelta = timedelta(hours=24)

    def make(self, alert_id: int, responder_id: int | None, now: datetime) -> str:
        """The link for one alert and one responder."""
        return f"{self.base_url.rstrip('/')}/l/{sign_link(self.secret, alert_id, responder_id, now + self.ttl)}"


class LinkError(ValueError):
    """A link that is malformed, forged or expired; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify_link(secret: bytes, token: str, now: datetime) -> LinkClaim:
    """The claim of a token, or LinkError("malformed" | "bad_signature" | "expired")."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError) as err:
        raise LinkError("malformed") from err
    if len(raw) != _PAYLOAD.size + _MAC_BYTES:
        raise LinkError("malformed")
    payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    if not hmac.compare_digest(mac, hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]):
        raise LinkError("bad_signature")
    alert_id, responder_id, minutes = _PAYLOAD.unpack(payload)
    expires = datetime.fromtimestamp(minutes * 60, UTC)
    if now >= expires:
        raise LinkError("expired")
    return LinkClaim(alert_id, responder_id or None, expires)
