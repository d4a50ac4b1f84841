"""SMS bodies in zh-CN and en: the home's short label and district, what happened, since when, the reply code."""

from __future__ import annotations

from datetime import datetime, tzinfo

# What happened, per finding kind; unknown kinds fall back to a generic line that names the kind code.
KIND_TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "panic": "按下了紧急呼叫按钮",
        "long_inactivity": "长时间没有活动",
        "long_lie": "疑似跌倒后长时间未起",
        "fall": "疑似跌倒",
        "night_exit": "夜间出门未归",
        "door_left_open": "门长时间未关",
        "no_wake": "到时间仍未起床",
        "agent_offline": "家中设备离线",
        "sensor_offline": "传感器无响应",
        "low_battery": "传感器电量低",
    },
    "en": {
        "panic": "panic button pressed",
        "long_inactivity": "no activity for a long time",
        "long_lie": "possible fall, not moving",
        "fall": "possible fall",
        "night_exit": "went out at night, not back",
        "door_left_open": "door left open",
        "no_wake": "not up at the usual time",
        "agent_offline": "home hub offline",
        "sensor_offline": "a sensor stopped reporting",
        "low_battery": "sensor battery low",
    },
}
GENERIC_TEXT = {"zh-CN": "异常情况（{kind}）", "en": "needs a check ({kind})"}
ELLIPSIS = {"zh-CN": "…", "en": "..."}

# {label} {district} {what} {since} {code}; the zh-CN text is UCS-2 (70 characters a segment), en is GSM-7 (160).
BODY = {
    "zh-CN": "【安心】{district}{label}：{what}，{since}起。请尽快查看，回复 {code} 表示由您处理。",
    "en": "Anxin: {label}, {district}: {what}, since {since}. Please check. Reply {code} to take it.",
}
SUPPORTED_LANGS = tuple(BODY)
DEFAULT_LANG = "zh-CN"

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
) -> str:
    """The SMS body that tells a responder about an alert, shortened to one segment where the label allows."""
    lang = lang_of(lang)
    fields = {
        "district": district.strip(),
        "what": what_happened(kind, lang),
        "since": since_text(since, now, tz),
        "code": code,
    }
    label = " ".join(label.split())

    def render(shown: str) -> str:
        body = BODY[lang].format(label=shown, **fields)
        return f"{body} {link}" if link else body

    # The label is free text typed by an operator: it gives way first, so the code and time always fit; when even
    # a short label cannot make one segment (say, a Chinese label in an English text), it stays whole.
    for keep in range(len(label), min(_MIN_LABEL, len(label)) - 1, -1):
        body = render(label if keep == len(label) else label[:keep].rstrip() + ELLIPSIS[lang])
        if segments(body) <= 1:
            return body
    return render(label)
