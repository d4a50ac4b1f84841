"""SMS bodies in zh-CN and en: the home's short label and district, what happened, since when, the reply code."""

from __future__ import annotations

from datetime import datetime, tzinfo

# What happened, per finding kind; unknown kinds fall back to a generic line that names the kind code.
KIND_TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "panic": "按下了紧急呼叫按钮",
        "long_inactivity": "长时间没有活动",
        "night_exit": "夜间出门未归",
        "door_left_open": "门长时间未关",
        "missed_morning": "到时间仍未起床",
        "night_wandering": "夜间反复走动",
        "activity_decline": "近几天活动明显减少",
        "night_restlessness": "夜间起夜增多",
        "agent_offline": "家中设备离线",
        "sensor_silent": "传感器无响应",
        "low_battery": "传感器电量低",
    },
    "en": {
        "panic": "panic button pressed",
        "long_inactivity": "no activity for a long time",
        "night_exit": "went out at night, not back",
        "door_left_open": "door left open",
        "missed_morning": "not up at the usual time",
        "night_wandering": "restless at night",
        "activity_decline": "much less active for days",
        "night_restlessness": "up more often at night",
        "agent_offline": "home hub offline",
        "sensor_silent": "a sensor stopped reporting",
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


# Follow-up SMS and replies, each {placeholder} filled by `follow_up`. The address appears only in "ack_ok": it is told
# to whoever took the alert, never in the first SMS.
FOLLOW_UP: dict[str, dict[str, str]] = {
    "zh-CN": {
        "taken": "【安心】{district}{label}的告警 {code} 已由{name}处理，谢谢。",
        "closed": "【安心】{district}{label}的告警 {code} 已解决，无需前往，谢谢。",
        "reminder": "【安心】提醒：{district}{label}的告警 {code} 仍未结束。处理完毕请回复 2 {code}。",
        "ack_ok": "【安心】告警 {code} 由您处理，谢谢！{address}处理完毕请回复 2 {code}。",
        "address": "地址：{address}。",
        "resolved_ok": "【安心】告警 {code} 已标记为解决（老人安好），谢谢！",
        "already_taken": "【安心】告警 {code} 已由{name}处理，谢谢。",
        "stale": "【安心】告警 {code} 已于{when}结束，无需操作。",
        "unknown_code": "【安心】未找到代码为 {code} 的进行中告警。请核对短信中的5位代码，或回复 HELP。",
        "not_yours": "【安心】告警 {code} 未发送给您，请以收到的短信为准。",
        "unknown": "【安心】未能识别。回复短信中的代码表示由您处理，回复“2 代码”表示已解决，"
        "回复 HELP 获取帮助，回复 TD 退订。",
        "help": "【安心】回复代码（如 K7MP3）表示由您处理；回复“2 K7MP3”表示老人安好、已解决；"
        "回复 TD 退订。紧急情况请拨打120。",
        "stopped": "【安心】您已退订告警短信。回复 START 可恢复。",
        "started": "【安心】已恢复接收告警短信，谢谢。",
        "unknown_sender": "【安心】此号码未登记为志愿者，如有疑问请联系社区。",
    },
    "en": {
        "taken": "Anxin: alert {code} ({label}, {district}) was taken by {name}. Thank you.",
        "closed": "Anxin: alert {code} ({label}, {district}) is resolved; no need to go. Thank you.",
        "reminder": "Anxin reminder: alert {code} ({label}, {district}) is still open. Reply 2 {code} when done.",
        "ack_ok": "Anxin: alert {code} is yours, thank you! {address}Reply 2 {code} when done.",
        "address": "Address: {address}. ",
        "resolved_ok": "Anxin: alert {code} is marked resolved (resident fine). Thank you!",
        "already_taken": "Anxin: alert {code} was already taken by {name}. Thank you.",
        "stale": "Anxin: alert {code} already ended at {when}; nothing to do.",
        "unknown_code": "Anxin: no open alert has code {code}. Check the 5-letter code in the SMS, or reply HELP.",
        "not_yours": "Anxin: alert {code} was not sent to you; please go by the SMS you received.",
        "unknown": "Anxin: not understood. Reply the code to take an alert, 2 and the code when resolved, "
        "HELP, or STOP.",
        "help": "Anxin: reply the code (e.g. K7MP3) to take an alert; 2 K7MP3 when the resident is fine; STOP to stop. "
        "Emergency: call 120.",
        "stopped": "Anxin: you will get no more alerts. Reply START to resume.",
        "started": "Anxin: alerts resumed. Thank you.",
        "unknown_sender": "Anxin: this number is not registered as a volunteer; please contact your community centre.",
    },
}


def follow_up(template: str, lang: str, **fields: str) -> str:
    """A follow-up SMS or reply in a language; the address line is filled in only when an address is given."""
    lang = lang_of(lang)
    texts = FOLLOW_UP[lang]
    values = {k: " ".join(v.split()) for k, v in fields.items()}
    if "address" in values:
        values["address"] = texts["address"].format(address=values["address"]) if values["address"] else ""
    return texts[template].format(**values)


# The mobile page a signed link opens.
PAGE: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "安心告警",
        "what": "情况",
        "since": "开始于",
        "where": "位置",
        "state": "状态",
        "address": "地址",
        "ack": "我来处理",
        "resolve": "已处理完毕",
        "outcome": "结果",
        "resident_fine": "老人安好",
        "needed_help": "需要帮助，已协助",
        "emergency_services": "已呼叫急救",
        "false_alarm": "误报",
        "device_fault": "设备故障",
        "state.open": "待处理",
        "state.notifying": "正在通知",
        "state.acknowledged": "已有人处理",
        "state.resolved": "已解决",
        "state.expired": "已过期",
        "state.silenced": "已静默",
        "taken_by": "由{name}处理",
        "done": "谢谢！已记录。",
        "link_expired": "此链接已过期，请回复短信中的代码。",
        "link_invalid": "链接无效。",
        "error": "无法完成：{reason}",
        "emergency": "紧急情况请拨打 120。",
    },
    "en": {
        "title": "Anxin alert",
        "what": "What",
        "since": "Since",
        "where": "Where",
        "state": "State",
        "address": "Address",
        "ack": "I've got it",
        "resolve": "Done",
        "outcome": "Outcome",
        "resident_fine": "Resident fine",
        "needed_help": "Needed help, helped",
        "emergency_services": "Called emergency services",
        "false_alarm": "False alarm",
        "device_fault": "Device fault",
        "state.open": "Open",
        "state.notifying": "Notifying",
        "state.acknowledged": "Taken",
        "state.resolved": "Resolved",
        "state.expired": "Expired",
        "state.silenced": "Silenced",
        "taken_by": "Taken by {name}",
        "done": "Thank you! Recorded.",
        "link_expired": "This link has expired; please reply with the code in the SMS.",
        "link_invalid": "This link is not valid.",
        "error": "Could not do that: {reason}",
        "emergency": "Emergency: call 120.",
    },
}
