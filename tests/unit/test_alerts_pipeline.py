"""Pure parts of the alerts pipeline's stages: dedupe, codes, send status, templates, redaction, settings."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts import dedupe, escalation, inhibit, outbox, replies, templates
from alerts.config import AlertsSettings, TwilioSettings
from alerts.dedupe import Action, ExistingAlert
from alerts.notifier import LocalOutboxNotifier, classify_http_error, make_notifier
from alerts.redact import mask_phone, redact
from anxin.settings import ConfigError, load_settings
from contracts import FindingKind

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2024, 5, 1, 6, 30, tzinfo=UTC)  # 14:30 in Shanghai


# dedupe


def test_first_finding_opens_an_alert() -> None:
    assert dedupe.dedupe("f1", None, set()) == dedupe.Decision(Action.OPEN)


def test_finding_joins_the_unresolved_alert() -> None:
    existing = ExistingAlert(id=7, state=escalation.STATE_OPEN, count=1, code="AAAAA")
    assert dedupe.dedupe("f2", existing, {"f1"}) == dedupe.Decision(Action.JOIN, 7)


def test_redelivered_finding_is_a_duplicate() -> None:
    existing = ExistingAlert(id=7, state=escalation.STATE_ACKNOWLEDGED, count=2, code="AAAAA")
    assert dedupe.dedupe("f1", existing, {"f1", "f2"}).action is Action.DUPLICATE
    assert dedupe.dedupe("f1", None, {"f1"}).action is Action.DUPLICATE


# codes


def test_reply_code_is_deterministic_for_a_seed_and_unambiguous() -> None:
    a = replies.reply_code(random.Random(1))
    assert a == replies.reply_code(random.Random(1))
    assert len(a) == replies.CODE_LENGTH
    codes = {replies.reply_code(random.Random(i)) for i in range(500)}
    assert len(codes) > 490
    assert not set("".join(codes)) & set("0O1IL2Z5S8B")


def test_status_after_send() -> None:
    assert outbox.status_after_send(True, False, 1, 5, local=False) == outbox.OUTBOX_SENT
    assert outbox.status_after_send(True, False, 1, 5, local=True) == outbox.OUTBOX_LOCAL
    assert outbox.status_after_send(False, True, 1, 5, local=False) == outbox.OUTBOX_PENDING
    assert outbox.status_after_send(False, True, 5, 5, local=False) == outbox.OUTBOX_FAILED
    assert outbox.status_after_send(False, False, 1, 5, local=False) == outbox.OUTBOX_FAILED


# templates


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("kind", ["panic", "long_inactivity", "night_exit", "door_left_open", "something_new"])
def test_sms_is_one_segment_with_label_district_time_and_code(lang: str, kind: str) -> None:
    district = "朝阳区" if lang == "zh-CN" else "Chaoyang"
    label = "3号楼2单元501" if lang == "zh-CN" else "Bldg 3 Unit 2-501"
    body = templates.alert_sms(
        lang=lang,
        label=label,
        district=district,
        kind=kind,
        since=NOW - timedelta(minutes=25),
        now=NOW,
        tz=SHANGHAI,
        code="K7MP3",
    )
    assert templates.segments(body) == 1
    for part in (label, district, "14:05", "K7MP3"):
        assert part in body
    if kind == "something_new":
        assert "something new" in body


def test_sms_never_holds_a_resident_name() -> None:
    # The template only takes the home's label and district; the resident's name is not an input at all.
    for lang, alarm in (("zh-CN", "紧急"), ("en", "panic button")):
        body = templates.alert_sms(
            lang=lang, label="Home 12", district="朝阳区", kind="panic", since=NOW, now=NOW, tz=SHANGHAI, code="K7MP3"
        )
        assert alarm in body and "K7MP3" in body
        assert "Wang" not in body and "王" not in body


def test_sms_shortens_a_long_label_to_stay_in_one_segment() -> None:
    long_label = "北京市朝阳区幸福里小区东门进去左手边第三栋楼二单元五楼五零一室老房子" * 2
    body = templates.alert_sms(
        lang="zh-CN", label=long_label, district="朝阳区", kind="panic", since=NOW, now=NOW, tz=SHANGHAI, code="K7MP3"
    )
    assert templates.segments(body) == 1
    assert "…" in body and "K7MP3" in body and "14:30" in body


def test_since_shows_the_date_when_not_today() -> None:
    yesterday = NOW - timedelta(days=1)
    assert templates.since_text(yesterday, NOW, SHANGHAI) == "04-30 14:30"
    assert templates.since_text(NOW, NOW, SHANGHAI) == "14:30"


def test_language_fallback() -> None:
    assert templates.lang_of("en-GB") == "en"
    assert templates.lang_of("zh") == "zh-CN"
    assert templates.lang_of("fr") == "zh-CN"


def test_segments_counts_gsm_and_ucs2() -> None:
    assert templates.segments("a" * 160) == 1
    assert templates.segments("a" * 161) == 2
    assert templates.segments("中" * 70) == 1
    assert templates.segments("中" * 71) == 2


# redaction


def test_mask_phone() -> None:
    assert mask_phone("+8613812341234") == "+86*******1234"
    assert "13812341234" not in mask_phone("13812341234")


def test_redact_removes_token_and_numbers_but_keeps_codes_and_dates() -> None:
    token = "f00dbabe" * 4
    text = f"HTTP 400 code 21211: The 'To' number +15005550001 is not valid (auth {token}) on 2024-05-01; 13812345678"
    out = redact(text, [token])
    assert token not in out and "+15005550001" not in out and "13812345678" not in out
    assert "21211" in out and "2024-05-01" in out and "0001" in out


def test_http_error_classification() -> None:
    assert classify_http_error(503, 20503)
    assert classify_http_error(429, 20429)
    assert not classify_http_error(400, 21211)
    assert not classify_http_error(400, 21610)
    assert not classify_http_error(401, 20003)


# settings


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANXIN_ALERTS__TWILIO__ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("ANXIN_ALERTS__TWILIO__AUTH_TOKEN", "secret-token")
    monkeypatch.setenv("ANXIN_ALERTS__TWILIO__FROM_NUMBER", "+15005550006")
    monkeypatch.setenv("ANXIN_MQTT__PASSWORD", "pw")
    s = load_settings(AlertsSettings)
    assert s.alerts.twilio.configured
    assert s.mqtt.username == "alerts"  # kept although the env gave only the password
    assert s.alerts.client_id == "anxin-alerts" and s.alerts.session_expiry_s == 86400


def test_partial_twilio_settings_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANXIN_ALERTS__TWILIO__ACCOUNT_SID", "AC" + "0" * 32)
    with pytest.raises(ConfigError) as err:
        load_settings(AlertsSettings)
    assert "auth_token" in str(err.value)


def test_no_credentials_means_local_outbox() -> None:
    assert isinstance(make_notifier(TwilioSettings()), LocalOutboxNotifier)


# finding kinds: the names anomaly raises are the names alerts and the console know


@pytest.mark.parametrize("kind", list(FindingKind))
def test_every_finding_kind_has_its_own_sms_text_and_console_label(kind: FindingKind) -> None:
    from console.i18n import MESSAGES

    for lang in ("zh-CN", "en"):
        assert kind.value in templates.KIND_TEXT[lang], (lang, kind)
        assert f"kind.{kind.value}" in MESSAGES[lang], (lang, kind)


def test_an_offline_hub_explains_silent_sensors_but_never_the_person() -> None:
    assert inhibit.inhibited_by(FindingKind.SENSOR_SILENT, {FindingKind.AGENT_OFFLINE}) == FindingKind.AGENT_OFFLINE
    assert inhibit.inhibited_by(FindingKind.LOW_BATTERY, {FindingKind.AGENT_OFFLINE}) == FindingKind.AGENT_OFFLINE
    assert inhibit.inhibited_by(FindingKind.LONG_INACTIVITY, {FindingKind.AGENT_OFFLINE}) is None
    assert FindingKind.MISSED_MORNING in inhibit.AWAY_KINDS


# reading a finding off MQTT


def test_a_finding_is_read_only_from_its_own_homes_findings_topic() -> None:
    from alerts.service import read_finding
    from contracts import Severity
    from contracts.messages import Finding, dump
    from contracts.topics import findings_topic

    f = Finding(id="f-1", home="h-abc123", kind="panic", severity=Severity.CRITICAL, ts=NOW, since=NOW, detector="t")
    assert read_finding(findings_topic("h-abc123"), dump(f)) == (f, "", "")
    assert read_finding(findings_topic("h-def456"), dump(f))[:2] == (None, "home_mismatch")
    assert read_finding("anxin/v1/homes/h-abc123/events", dump(f))[:2] == (None, "topic")
    assert read_finding(findings_topic("h-abc123"), b"{")[0] is None
