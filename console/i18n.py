"""UI strings in zh-CN and en, and choosing the language of a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SUPPORTED = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"
LANG_COOKIE = "anxin_lang"
# Each language's name in itself, for the switcher.
LANG_NAMES = {"zh-CN": "中文", "en": "English"}

MESSAGES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "app.title": "安心 · 值班台",
        "nav.homes": "家庭",
        "nav.alerts": "告警",
        "nav.outbox": "短信",
        "nav.language": "语言：",
        "page.refresh": "每 {s} 秒自动刷新",
        "page.updated": "更新于 {time}",
        "activity.unavailable": "活动数据暂不可用（无法连接 InfluxDB），以下仅显示数据库中的信息。",
        "error.database": "数据库暂不可用，请稍后再试。",
        "homes.title": "家庭",
        "homes.summary": "共 {total} 户 · 在线 {online} · 离线 {offline} · 有未结告警 {alerting}",
        "homes.col.label": "家庭",
        "homes.col.district": "社区",
        "homes.col.last_activity": "最近活动",
        "homes.col.status": "网关",
        "homes.col.open_alerts": "未结告警",
        "homes.no_activity": "30 天内无活动",
        "homes.empty": "还没有登记的家庭。",
        "status.online": "在线",
        "status.offline": "离线",
        "status.unknown": "未知",
        "alerts.title": "未结告警",
        "alerts.summary": "{n} 条未结告警",
        "alerts.col.home": "家庭",
        "alerts.col.district": "社区",
        "alerts.col.kind": "类型",
        "alerts.col.severity": "级别",
        "alerts.col.since": "开始于",
        "alerts.col.count": "次数",
        "alerts.col.state": "状态",
        "alerts.col.code": "代码",
        "alerts.col.acknowledged_by": "确认人",
        "alerts.empty": "当前没有未结告警。",
        "outbox.title": "短信发件箱",
        "outbox.summary": "最近 {n} 条",
        "outbox.note": "未配置 Twilio 账户时，短信保存在本地发件箱，演示时在此查看。",
        "outbox.col.created": "时间",
        "outbox.col.to": "号码",
        "outbox.col.responder": "接收人",
        "outbox.col.alert": "告警",
        "outbox.col.status": "状态",
        "outbox.col.provider": "通道",
        "outbox.col.attempts": "尝试",
        "outbox.col.body": "内容",
        "outbox.empty": "发件箱为空。",
        "ago.now": "刚刚",
        "ago.minutes": "{n} 分钟前",
        "ago.hours": "{n} 小时前",
        "ago.days": "{n} 天前",
        "kind.inactivity": "长时间无活动",
        "kind.long_inactivity": "长时间无活动",
        "kind.long_lie": "疑似跌倒（长时间无活动）",
        "kind.panic": "紧急按钮",
        "kind.button": "紧急按钮",
        "kind.night_exit": "夜间外出",
        "kind.night_door": "夜间开门",
        "kind.door_open": "门长时间未关",
        "kind.no_wakeup": "未按时起床",
        "kind.routine_drift": "作息变化",
        "kind.sensor_silent": "传感器无响应",
        "kind.sensor_offline": "传感器离线",
        "kind.battery_low": "传感器电量低",
        "kind.agent_offline": "网关离线",
        "severity.critical": "紧急",
        "severity.warning": "警告",
        "severity.info": "提示",
        "state.open": "待处理",
        "state.notified": "已通知",
        "state.escalated": "已升级",
        "state.acknowledged": "已确认",
        "state.silenced": "已静默",
        "state.resolved": "已解决",
        "state.expired": "已过期",
        "sms.pending": "待发送",
        "sms.queued": "排队中",
        "sms.sending": "发送中",
        "sms.sent": "已发送",
        "sms.local": "已存本地发件箱",
        "sms.delivered": "已送达",
        "sms.failed": "发送失败",
        "sms.undelivered": "未送达",
        "sms.cancelled": "已取消",
        "provider.local": "本地发件箱",
        "provider.twilio": "Twilio",
    },
    "en": {
        "app.title": "Anxin · Operator console",
        "nav.homes": "Homes",
        "nav.alerts": "Alerts",
        "nav.outbox": "SMS outbox",
        "nav.language": "Language:",
        "page.refresh": "Refreshes every {s} s",
        "page.updated": "Updated {time}",
        "activity.unavailable": (
            "Activity data is unavailable (InfluxDB cannot be reached); showing what the database holds."
        ),
        "error.database": "The database is unavailable; please try again shortly.",
        "homes.title": "Homes",
        "homes.summary": "{total} homes · {online} online · {offline} offline · {alerting} with open alerts",
        "homes.col.label": "Home",
        "homes.col.district": "District",
        "homes.col.last_activity": "Last activity",
        "homes.col.status": "Hub",
        "homes.col.open_alerts": "Open alerts",
        "homes.no_activity": "None in 30 days",
        "homes.empty": "No homes registered yet.",
        "status.online": "Online",
        "status.offline": "Offline",
        "status.unknown": "Unknown",
        "alerts.title": "Open alerts",
        "alerts.summary": "{n} open alerts",
        "alerts.col.home": "Home",
        "alerts.col.district": "District",
        "alerts.col.kind": "Kind",
        "alerts.col.severity": "Severity",
        "alerts.col.since": "Since",
        "alerts.col.count": "Count",
        "alerts.col.state": "State",
        "alerts.col.code": "Code",
        "alerts.col.acknowledged_by": "Acknowledged by",
        "alerts.empty": "No open alerts.",
        "outbox.title": "SMS outbox",
        "outbox.summary": "Newest {n}",
        "outbox.note": "Without a Twilio account, SMS stay in the local outbox; the demo shows them here.",
        "outbox.col.created": "Time",
        "outbox.col.to": "To",
        "outbox.col.responder": "Recipient",
        "outbox.col.alert": "Alert",
        "outbox.col.status": "Status",
        "outbox.col.provider": "Channel",
        "outbox.col.attempts": "Attempts",
        "outbox.col.body": "Message",
        "outbox.empty": "The outbox is empty.",
        "ago.now": "just now",
        "ago.minutes": "{n} min ago",
        "ago.hours": "{n} h ago",
        "ago.days": "{n} d ago",
        "kind.inactivity": "Long inactivity",
        "kind.long_inactivity": "Long inactivity",
        "kind.long_lie": "Possible fall (long lie)",
        "kind.panic": "Panic button",
        "kind.button": "Panic button",
        "kind.night_exit": "Left home at night",
        "kind.night_door": "Door used at night",
        "kind.door_open": "Door left open",
        "kind.no_wakeup": "No wake-up",
        "kind.routine_drift": "Routine change",
        "kind.sensor_silent": "Sensor silent",
        "kind.sensor_offline": "Sensor offline",
        "kind.battery_low": "Sensor battery low",
        "kind.agent_offline": "Home hub offline",
        "severity.critical": "Critical",
        "severity.warning": "Warning",
        "severity.info": "Info",
        "state.open": "Open",
        "state.notified": "Notified",
        "state.escalated": "Escalated",
        "state.acknowledged": "Acknowledged",
        "state.silenced": "Silenced",
        "state.resolved": "Resolved",
        "state.expired": "Expired",
        "sms.pending": "Pending",
        "sms.queued": "Queued",
        "sms.sending": "Sending",
        "sms.sent": "Sent",
        "sms.local": "Kept in local outbox",
        "sms.delivered": "Delivered",
        "sms.failed": "Failed",
        "sms.undelivered": "Undelivered",
        "sms.cancelled": "Cancelled",
        "provider.local": "Local outbox",
        "provider.twilio": "Twilio",
    },
}


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
        """The string for `key`, formatted with `values`; the key itself when missing."""
        text = MESSAGES[self.lang].get(key)
        if text is None:
            return key
        return text.format(**values) if values else text

    def label(self, group: str, value: str | None) -> str:
        """The translated name of a code such as an alert kind; the code, readable, when unknown."""
        if value is None:
            return "—"
        return MESSAGES[self.lang].get(f"{group}.{value}") or _humanize(value)

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
