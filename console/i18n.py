"""UI strings in zh-CN and en from the catalogues in console/locales, and choosing the language of a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from anxin import catalogue

SUPPORTED = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"
LANG_COOKIE = "anxin_lang"
# Each language's name in itself, for the switcher.
LANG_NAMES = {"zh-CN": "中文", "en": "English"}

# The catalogues, read once at import: console/locales/<lang>.json (anxin/catalogue.py says what an entry may be).
LOCALES = Path(__file__).with_name("locales")
MESSAGES: dict[str, catalogue.Catalogue] = catalogue.load(LOCALES, SUPPORTED)


def normalize(tag: str | None) -> str | None:
    """The supported language a tag like `en-GB` or `zh-Hans-CN` stands for, or None."""
    if not tag:
        return None
    primary = tag.strip().lower().replace("_", "-").split("-", 1)[0]
    # Every Chinese variant gets the Simplified UI: closer for its reader than the English one.
    if primary == "zh":
        return "zh-CN"
    if primary == "en":
        return "en"
    return None


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags of an Accept-Language header, most preferred first, dropping q=0."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            ranked.append((-q, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page language: `?lang=` first, then the cookie, then Accept-Language, else zh-CN."""
    for candidate in (query, cookie):
        chosen = normalize(candidate)
        if chosen:
            return chosen
    for tag in parse_accept_language(accept_language):
        chosen = normalize(tag)
        if chosen:
            return chosen
    return DEFAULT_LANG


def _humanize(value: str) -> str:
    return value.replace("_", " ").strip() or "—"


@dataclass(frozen=True)
class Translator:
    """Looks up UI strings in one language."""

    lang: str

    def __call__(self, key: str, **values: object) -> str:
        """The string for `key` in its plural form for the count among `values`, filled in; the key when missing."""
        entry = MESSAGES[self.lang].get(key)
        if entry is None:
            return key
        return catalogue.render(entry, self.lang, values)

    def has(self, key: str) -> bool:
        """Whether the catalogue has `key`."""
        return key in MESSAGES[self.lang]

    def label(self, group: str, value: str | None) -> str:
        """The translated name of a code such as an alert kind; the code, readable, when unknown."""
        if value is None:
            return "—"
        entry = MESSAGES[self.lang].get(f"{group}.{value}")
        return catalogue.choose(entry, self.lang, {}) if entry else _humanize(value)

    def ago(self, then: datetime, now: datetime) -> str:
        """How long ago `then` was, coarsely."""
        seconds = max(0, int((now - then).total_seconds()))
        if seconds < 60:
            return self("ago.now")
        if seconds < 3600:
            return self("ago.minutes", n=seconds // 60)
        if seconds < 86400 * 2:
            return self("ago.hours", n=seconds // 3600)
        return self("ago.days", n=seconds // 86400)


def translator(lang: str) -> Translator:
    """A translator for a supported language, falling back to the default."""
    return Translator(lang if lang in MESSAGES else DEFAULT_LANG)
