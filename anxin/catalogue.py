"""Message catalogues: one JSON file per language, read once, with plural forms chosen by a count.

A catalogue maps a key to a text with `{placeholders}`, or to its plural forms, ICU-like: `{"one": "{n} minute",
"other": "{n} minutes"}`. The count that chooses the form is the `n` placeholder unless the entry names another in
`"count"` (`{"count": "total", ...}`). English has the forms one and other; Chinese has one form, written `other` (or
as a plain text). A file that breaks these rules is refused when it is read, with the file and the key named, so a
bad translation fails at start-up and in the unit tests, not on a page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

# A text, or its plural forms keyed by form name (plus an optional "count" naming the placeholder that chooses).
Entry = str | dict[str, str]
Catalogue = dict[str, Entry]

COUNT_KEY: Final = "count"
DEFAULT_COUNT: Final = "n"
# The plural forms each language uses, and the one every plural entry must have.
PLURAL_FORMS: dict[str, tuple[str, ...]] = {"en": ("one", "other"), "zh-CN": ("other",)}
OTHER: Final = "other"


class CatalogueError(ValueError):
    """A catalogue file that cannot be used, with the file and key in the message."""


def plural_form(lang: str, count: int) -> str:
    """The plural form a count takes in a language (English: one for exactly 1; Chinese: always other)."""
    if "one" in PLURAL_FORMS.get(lang, ()) and count == 1:
        return "one"
    return OTHER


def _check_entry(where: str, lang: str, key: str, entry: object) -> Entry:
    if isinstance(entry, str):
        return entry
    if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
        raise CatalogueError(f"{where}: {key!r} is neither a text nor an object of plural forms")
    forms = set(entry) - {COUNT_KEY}
    allowed = set(PLURAL_FORMS.get(lang, (OTHER,)))
    if OTHER not in forms or not forms <= allowed:
        raise CatalogueError(
            f"{where}: {key!r} has forms {sorted(forms)}; {lang} takes {sorted(allowed)}, other required"
        )
    return dict(entry)


def load(directory: Path, langs: Sequence[str]) -> dict[str, Catalogue]:
    """Each language's catalogue from `directory/<lang>.json`, checked; raises CatalogueError on a bad file."""
    out: dict[str, Catalogue] = {}
    for lang in langs:
        path = directory / f"{lang}.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise CatalogueError(f"{path}: {err}") from err
        if not isinstance(raw, dict):
            raise CatalogueError(f"{path}: not a JSON object")
        out[lang] = {key: _check_entry(str(path), lang, key, entry) for key, entry in raw.items()}
    return out


def forms(entry: Entry) -> dict[str, str]:
    """Every text of an entry by form name (a plain text is the single form `other`)."""
    if isinstance(entry, str):
        return {OTHER: entry}
    return {form: text for form, text in entry.items() if form != COUNT_KEY}


def choose(entry: Entry, lang: str, values: Mapping[str, object]) -> str:
    """The text of an entry for these values: a plain text as is, else the plural form its count takes."""
    if isinstance(entry, str):
        return entry
    count = values.get(entry.get(COUNT_KEY, DEFAULT_COUNT))
    form = plural_form(lang, count) if isinstance(count, int) else OTHER
    return entry.get(form, entry[OTHER])


def render(entry: Entry, lang: str, values: Mapping[str, object]) -> str:
    """The entry's text for these values, with its placeholders filled."""
    text = choose(entry, lang, values)
    return text.format(**values) if values else text
