"""SMS bodies in zh-CN and en: the home's short label and district, what happened, since when, the reply code."""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path

from anxin import catalogue
from contracts.vocabulary import FindingKind

SUPPORTED_LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"
# The texts, read once at import from alerts/locales/<lang>.json (flat keys, anxin/catalogue.py's format).
LOCALES = Path(__file__).with_name("locales")
CATALOGUE = catalogue.load(LOCALES, SUPPORTED_LANGS)


def _section(prefix: str) -> dict[str, dict[str, str]]:
    """The entries of each language whose key starts with `prefix`, without it (every SMS text is a plain one)."""
    return {
        lang: {
            key.removeprefix(prefix): catalogue.choose(e, lang, {})
            for key, e in texts.items()
            if key.startswith(prefix)
        }
        for lang, texts in CATALOGUE.items()
    }


def _single(key: str) -> dict[str, str]:
    return {lang: catalogue.choose(texts[key], lang, {}) for lang, texts in CATALOGUE.items()}


# What happened, per finding kind; unknown kinds fall back to a generic line that names the kind code.
KIND_TEXT = _section("kind.")
GENERIC_TEXT = _single("generic")
ELLIPSIS = _single("ellipsis")
# {label} {district} {what} {since} {code}; the zh-CN text is UCS-2 (70 characters a segment), en is GSM-7 (160).
BODY = _single("body")
# A help request's page (one-click help): asks who can help, not who will check.
BODY_HELP = _single("body_help")
# Follow-up SMS and replies, each {placeholder} filled by `follow_up`. The address appears only in "ack_ok": it is told
# to whoever took the alert, never in the first SMS.
FOLLOW_UP = _section("follow_up.")
# The mobile page a signed link opens.
PAGE = _section("page.")

# The GSM 03.38 basic set; a body with any other character is sent as UCS-2.
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = frozenset("^{}\\[~]|€")
_MIN_LABEL = 4


def lang_of(lang: str | None) -> str:
    """The supported language closest to a responder's preference (zh-CN unless it is English)."""
    if lang and lang.lower().startswith("en"):
        return "en"
    return DEFAULT_LANG


def segments(body: str) -> int:
    """How many SMS segments a body takes (GSM-7: 160, or 153 when split; UCS-2: 70, or 67)."""
    if all(c in _GSM7 or c in _GSM7_EXT for c in body):
        units = sum(2 if c in _GSM7_EXT else 1 for c in body)
        single, multi = 160, 153
    else:
        units = sum(2 if ord(c) > 0xFFFF else 1 for c in body)
        single, multi = 70, 67
    return 1 if units <= single else -(-units // multi)


def what_happened(kind: str, lang: str) -> str:
    """The short description of a finding kind in a language."""
    lang = lang_of(lang)
    text = KIND_TEXT[lang].get(kind)
    return text if text is not None else GENERIC_TEXT[lang].format(kind=kind.replace("_", " "))


def since_text(since: datetime, now: datetime, tz: tzinfo) -> str:
    """Local HH:MM of `since`, with the month and day when it was not today."""
    local, today = since.astimezone(tz), now.astimezone(tz)
    return local.strftime("%H:%M") if local.date() == today.date() else local.strftime("%m-%d %H:%M")


def alert_sms(
    *,
    lang: str,
    label: str,
    district: str,
    kind: str,
    since: datetime,
    now: datetime,
    tz: tzinfo,
    code: str,
    link: str | None = None,
    open_minutes: int | None = None,
) -> str:
    """The SMS body that tells a responder about an alert, shortened to one segment where the label allows.

    `open_minutes` marks a repeat (a later round): the body then starts by saying so and how long it has been open.
    """
    lang = lang_of(lang)
    base = BODY_HELP[lang] if kind == FindingKind.HELP_REQUEST else BODY[lang]
    if open_minutes is not None:
        base = catalogue.render(CATALOGUE[lang]["repeat"], lang, {"n": open_minutes}) + base
    fields = {
        "district": district.strip(),
        "what": what_happened(kind, lang),
        "since": since_text(since, now, tz),
        "code": code,
    }
    label = " ".join(label.split())

    def render(shown: str) -> str:
        body = base.format(label=shown, **fields)
        return f"{body} {link}" if link else body

    # The label is free text typed by an operator: it gives way first, so the code and time always fit; when even
    # a short label cannot make one segment (say, a Chinese label in an English text), it stays whole.
    for keep in range(len(label), min(_MIN_LABEL, len(label)) - 1, -1):
        body = render(label if keep == len(label) else label[:keep].rstrip() + ELLIPSIS[lang])
        if segments(body) <= 1:
            return body
    return render(label)


def follow_up(template: str, lang: str, **fields: str) -> str:
    """A follow-up SMS or reply in a language; the address line is filled in only when an address is given."""
    lang = lang_of(lang)
    texts = FOLLOW_UP[lang]
    values = {k: " ".join(v.split()) for k, v in fields.items()}
    if "address" in values:
        values["address"] = texts["address"].format(address=values["address"]) if values["address"] else ""
    return texts[template].format(**values)
