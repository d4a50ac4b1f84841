"""The mobile page's markup (Jinja, alerts/web/templates/mobile.html): texts from the catalogue, every value escaped."""

from __future__ import annotations

import pytest

from alerts import templates
from alerts.web.mobile import _page
from contracts.vocabulary import OUTCOMES


@pytest.mark.parametrize("lang", templates.SUPPORTED_LANGS)
def test_the_alert_view_has_its_forms_and_every_outcome(lang: str) -> None:
    t = templates.PAGE[lang]
    html = _page(lang, rows=[(t["what"], "x")], done=True, token="AbC_-9", can_ack=True, outcomes=OUTCOMES)
    page = html.body.decode()
    assert page.startswith(f'<!doctype html><html lang="{lang}">') and html.status_code == 200
    assert f'action="/l/AbC_-9/ack?lang={lang}"' in page and f'action="/l/AbC_-9/resolve?lang={lang}"' in page
    assert page.count("<option ") == len(OUTCOMES) and t["done"] in page and t["emergency"] in page
    assert html.headers["cache-control"] == "no-store" and html.headers["referrer-policy"] == "no-referrer"


def test_a_closed_alert_has_no_forms() -> None:
    page = _page("en", rows=[], done=False, token="AbC_-9", can_ack=False, outcomes=()).body.decode()
    assert "<form" not in page and "<strong>" not in page


def test_operator_typed_text_is_escaped() -> None:
    # A home's label, district and address are typed by operators and shown to whoever opens the link.
    hostile = '<script>alert(1)</script>" onmouseover="x'
    page = _page("zh-CN", rows=[(hostile, hostile)], done=False, token="t", can_ack=True, outcomes=OUTCOMES)
    body = page.body.decode()
    assert "<script>" not in body and '" onmouseover' not in body
    assert "&lt;script&gt;" in body
    message = _page("en", 409, message=hostile)
    assert message.status_code == 409 and "<script>" not in message.body.decode()
