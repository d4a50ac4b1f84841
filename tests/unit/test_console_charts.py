"""The home page's charts: geometry from console.charts, markup from the Jinja macro, counts in their plural form."""

from __future__ import annotations

from datetime import datetime, timedelta

from console import charts
from console.i18n import translator
from console.web import make_templates

HOURS = [datetime(2026, 1, 1) + timedelta(hours=i) for i in range(24)]


def _render(chart: charts.Chart | None) -> str:
    macro = make_templates("Asia/Shanghai").env.get_template("_charts.html").module.chart  # type: ignore[attr-defined]
    return str(macro(chart))


def test_heatmap_cells_say_their_count_in_the_page_language() -> None:
    en, zh = translator("en"), translator("zh-CN")
    rows = {"Kitchen <1>": [0.0] * 22 + [1.0, 2.0]}
    svg = _render(charts.heatmap(rows, HOURS, "Rooms", lambda n: en("home.unit.events", n=n)))
    assert svg.startswith('<svg class="chart" viewBox="0 0 742 52"') and svg.endswith("</svg>")
    assert "<title>Kitchen &lt;1&gt; 22:00 · 1 event</title>" in svg
    assert "<title>Kitchen &lt;1&gt; 23:00 · 2 events</title>" in svg
    assert "<title>Kitchen &lt;1&gt; 00:00 · 0 events</title>" in svg
    assert svg.count("<rect ") == 24 and svg.count('class="tick"') == 8
    svg = _render(charts.heatmap(rows, HOURS, "房间", lambda n: zh("home.unit.events", n=n)))
    assert "22:00 · 1 次活动</title>" in svg


def test_bars_draw_a_bar_value_and_label_each() -> None:
    en = translator("en")
    svg = _render(
        charts.bars([1.0, 0.0, 3.0], ["01-01", "01-02", "01-03"], "Doors", lambda n: en("home.unit.openings", n=n))
    )
    assert svg.count("<rect ") == 3 and svg.count('class="value"') == 3 and '<line x1="0" x2="188"' in svg
    assert "<title>01-01 · 1 opening</title>" in svg and "<title>01-03 · 3 openings</title>" in svg


def test_no_data_no_chart() -> None:
    assert charts.heatmap({}, HOURS, "Rooms", str) is None
    assert charts.bars([], [], "Doors", str) is None
