"""What the console may show of SMS secrets and phone numbers: one Redactor per caller, used by every read.

An alert SMS carries a signed link to the mobile page (whoever holds it acts as that volunteer) and the alert's reply
code. Links are never shown to anyone: operators act through the console under their own name. Reply codes and phone
numbers are shown masked to admins and operators, who may act on alerts and call volunteers anyway; viewers see
neither, not even in part.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from alerts.redact import mask_phone, redact
from alerts.replies import CODE_ALPHABET, CODE_LENGTH

LINK_SHOWN = "[link]"
NUMBER_SHOWN = "[number]"
CODE_SHOWN = "*" * CODE_LENGTH
# A mobile-page link, with or without its host and path prefix: /l/ and a URL-safe base64 token.
_LINK = re.compile(r"(?:https?://\S*?)?/l/[A-Za-z0-9_-]{8,}")
# Anything shaped like a reply code, for viewers: codes of other alerts may be quoted in a follow-up or a note.
_CODE_LIKE = re.compile(rf"(?<![0-9A-Za-z])[{CODE_ALPHABET}]{{{CODE_LENGTH}}}(?![0-9A-Za-z])")
KEY_FILE = "console-mask.key"


@dataclass(frozen=True)
class Redactor:
    """Redacts for one caller; `personal` is true for roles that may see masked numbers and reply codes."""

    key: bytes
    personal: bool

    def number(self, number: str | None) -> str | None:
        """A phone number as this caller may see it: masked with a keyed tag, or None for viewers."""
        if number is None or not self.personal:
            return None
        return mask_phone(number, self.key)

    def code(self, code: str | None) -> str | None:
        """An alert's reply code, or None for viewers."""
        return code if self.personal else None

    def text(self, text: str, codes: Iterable[str | None] = ()) -> str:
        """Free text (an SMS body, a provider error, a note) without links, and numbers and codes as allowed."""
        text = _LINK.sub(LINK_SHOWN, text)
        if not self.personal:
            for code in codes:
                if code:
                    text = re.sub(rf"(?<![0-9A-Za-z]){re.escape(code)}(?![0-9A-Za-z])", CODE_SHOWN, text)
            text = _CODE_LIKE.sub(CODE_SHOWN, text)
            return redact(text, mask=lambda _n: NUMBER_SHOWN)
        return redact(text, mask=lambda n: mask_phone(n, self.key))


def mask_key(state_dir: Path) -> bytes:
    """The key of the masks' tags: a random one kept in the state folder (0600), so masks stay the same."""
    path = state_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another console process made it first
            return path.read_text().strip().encode()
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
