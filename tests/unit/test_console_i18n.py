"""Language negotiation and the completeness of the console's string catalogue."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from anxin import catalogue
from console.i18n import (
    DEFAULT_LANG,
    LANG_NAMES,
    MESSAGES,
    SUPPORTED,
    negotiate,
    normalize,
    parse_accept_language,
    translator,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "console" / "templates"


def test_every_key_exists_in_every_language() -> None:
    assert set(MESSAGES) == set(SUPPORTED) == set(LANG_NAMES)
    keys = {lang: set(messages) for lang, messages in MESSAGES.items()}
    assert keys["zh-CN"] == keys["en"]
    for lang, messages in MESSAGES.items():
        for key, entry in messages.items():
            for form, text in catalogue.forms(entry).items():
                assert text.strip(), f"{lang}:{key}:{form} is empty"


def test_placeholders_agree_between_languages() -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for key, zh in MESSAGES["zh-CN"].items():
        for zh_text in catalogue.forms(zh).values():
            for en_text in catalogue.forms(MESSAGES["en"][key]).values():
                assert fields(zh_text) == fields(en_text), key


def test_plural_entries_count_a_placeholder_of_theirs() -> None:
    for lang, messages in MESSAGES.items():
        for key, entry in messages.items():
            if isinstance(entry, dict):
                count = entry.get(catalogue.COUNT_KEY, catalogue.DEFAULT_COUNT)
                for text in catalogue.forms(entry).values():
                    assert "{" + count + "}" in text, (lang, key)


def test_english_counts_take_their_plural_form() -> None:
    en, zh = translator("en"), translator("zh-CN")
    assert en("alerts.summary", n=1) == "1 open alert"
    assert en("alerts.summary", n=0) == "0 open alerts"
    assert en("alerts.summary", n=2) == "2 open alerts"
    assert en("action.minutes", n=1) == "1 minute"
    assert en("action.hours", n=5) == "5 hours"
    assert en("homes.summary", total=1, online=1, offline=0, alerting=0).startswith("1 home ·")
    assert en("homes.shown", n=1, total=1) == "Showing 1 of 1 home"
    assert en("responders.summary", n=1) == "1 responder"
    assert en("audit.summary", n=1) == "1 entry"
    assert zh("alerts.summary", n=1) == "1 条未结告警"
    assert zh("action.minutes", n=1) == "1 分钟"


def test_a_bad_catalogue_is_refused_with_its_key(tmp_path: Path) -> None:
    (tmp_path / "en.json").write_text('{"a.b": {"one": "{n} x"}}', encoding="utf-8")
    with pytest.raises(catalogue.CatalogueError, match=r"a\.b"):
        catalogue.load(tmp_path, ["en"])
    (tmp_path / "en.json").write_text('{"a.b": {"few": "{n} x", "other": "{n} xs"}}', encoding="utf-8")
    with pytest.raises(catalogue.CatalogueError, match="few"):
        catalogue.load(tmp_path, ["en"])
    (tmp_path / "en.json").write_text('{"a.b": ["x"]}', encoding="utf-8")
    with pytest.raises(catalogue.CatalogueError, match=r"a\.b"):
        catalogue.load(tmp_path, ["en"])
    (tmp_path / "en.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(catalogue.CatalogueError, match=r"en\.json"):
        catalogue.load(tmp_path, ["en"])


def test_chinese_strings_are_chinese() -> None:
    assert MESSAGES["zh-CN"]["nav.homes"] == "家庭"
    assert MESSAGES["zh-CN"]["nav.alerts"] == "告警"
    assert re.search(r"[\u4e00-\u9fff]", MESSAGES["zh-CN"]["activity.unavailable"])


def test_every_key_the_templates_use_is_in_the_catalogue() -> None:
    used: set[str] = set()
    for page in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_.]+)["']""", page.read_text()))
    assert used, "no keys found: the pattern no longer matches the templates"
    assert used - set(MESSAGES["en"]) == set()


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        (None, None, None, "zh-CN"),
        ("en", None, None, "en"),
        ("zh-CN", "en", "en-US", "zh-CN"),
        ("EN", None, None, "en"),
        ("fr", None, "en-GB", "en"),  # an unsupported ?lang= is ignored
        (None, "en", "zh-CN", "en"),
        (None, "xx", "en", "en"),
        (None, None, "en-US,en;q=0.9", "en"),
        (None, None, "fr-FR,de;q=0.9,en;q=0.5,zh;q=0.4", "en"),
        (None, None, "zh-TW,zh;q=0.9,en;q=0.8", "zh-CN"),
        (None, None, "en;q=0.3,zh-CN;q=0.8", "zh-CN"),
        (None, None, "zh;q=0,en", "en"),
        (None, None, "de-DE,fr", "zh-CN"),
        (None, None, "*", "zh-CN"),
        (None, None, ";;,,q=", "zh-CN"),
    ],
)
def test_negotiate(query: str | None, cookie: str | None, accept: str | None, expected: str) -> None:
    assert negotiate(query, cookie, accept) == expected


def test_parse_accept_language_orders_by_quality_then_position() -> None:
    assert parse_accept_language("da, en-gb;q=0.8, en;q=0.7, zh;q=bad") == ["da", "en-gb", "en"]
    assert parse_accept_language("en;q=0.5, fr;q=0.5, zh") == ["zh", "en", "fr"]
    assert parse_accept_language(None) == []


def test_normalize() -> None:
    assert normalize("zh-Hans-CN") == normalize("zh_cn") == "zh-CN"
    assert normalize("en-US") == "en"
    assert normalize("ja") is None and normalize("") is None and normalize(None) is None


def test_translator_labels_and_fallbacks() -> None:
    zh, en = translator("zh-CN"), translator("en")
    assert zh.label("kind", "long_inactivity") == "长时间无活动"
    assert en.label("state", "acknowledged") == "Acknowledged"
    assert en.label("kind", "new_detector_kind") == "new detector kind"
    assert en.label("kind", None) == "—"
    assert en("homes.summary", total=3, online=1, offline=1, alerting=2).startswith("3 homes")
    assert en("no.such.key") == "no.such.key"
    assert translator("fr").lang == DEFAULT_LANG


def test_ago() -> None:
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    zh, en = translator("zh-CN"), translator("en")
    assert zh.ago(now - timedelta(seconds=10), now) == "刚刚"
    assert zh.ago(now - timedelta(minutes=5), now) == "5 分钟前"
    assert en.ago(now - timedelta(hours=3), now) == "3 h ago"
    assert en.ago(now - timedelta(days=3), now) == "3 d ago"
    assert en.ago(now + timedelta(minutes=1), now) == "just now"
