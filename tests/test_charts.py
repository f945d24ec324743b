"""Indicator charts: a phone-wide PNG, Chinese drawn with a CJK font (no missing glyphs), the
year-earlier bar derived from 同比 when only one period is known, and the target line."""
from __future__ import annotations

import subprocess
import sys
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from bot.config import PROJECT_ROOT
from bot.models import Indicator, IndicatorValue
from bot.services import charts
from tests.conftest import Chat, requires_cjk_font

CJK_FILE_WORDS = ("wqy", "wenquanyi", "cjk", "notosanssc", "sourcehan", "droidsansfallback", "uming")


def is_cjk_font_file(path: str) -> bool:
    name = Path(path).name.lower().replace("-", "").replace("_", "")
    return any(word in name for word in CJK_FILE_WORDS)


def chart_reply(chat: Chat, name: str):
    replies = chat.replies(f"/chart {name}")
    assert len(replies) == 1 and len(replies[0].files) == 1, [r.text for r in replies]
    return replies[0].files[0]


@requires_cjk_font
def test_a_cjk_font_is_installed_and_found():
    family = charts.cjk_font()
    assert family is not None, "no CJK font: run make fonts"
    assert is_cjk_font_file(charts.cjk_font_file())


@requires_cjk_font
def test_chart_is_phone_wide_png_and_derives_the_year_earlier_value(sqlite_app):
    chat = Chat(sqlite_app, "陈主任")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = chart_reply(chat, "规上工业总产值")
    assert out.kind == "photo" and out.caption == "规上工业总产值趋势(上年同期为推算)"
    glyphs = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert glyphs == []
    with Image.open(out.path) as image:
        assert image.format == "PNG"
        assert image.size[0] == 1080 and 600 <= image.size[1] <= 1200
    with sqlite_app.sessions() as s:
        indicator = s.scalar(select(Indicator).where(Indicator.key == "industrial_output"))
        series = charts.indicator_series(s, indicator)
    assert [p.label for p in series.points] == ["2024年1-6月(推算)", "2025年1-6月"]
    assert series.points[0].derived and series.points[0].value == pytest.approx(135.7 / 1.084)
    assert "推算" in series.derived_note


@requires_cjk_font
def test_rendered_text_used_the_cjk_font_and_no_glyph_is_missing(sqlite_app, tmp_path):
    with sqlite_app.sessions() as s:
        indicator = s.scalar(select(Indicator).where(Indicator.key == "budget_revenue"))
        series = charts.indicator_series(s, indicator)
    fonts: set[str] = set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        charts.render_indicator_chart(series, tmp_path / "c.png", fonts_used=fonts)
    assert [str(w.message) for w in caught if "missing from font" in str(w.message)] == []
    assert fonts and all(is_cjk_font_file(f) for f in fonts), fonts
    # the check can fail: the same text in a Latin-only font warns of missing glyphs
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure()
    FigureCanvasAgg(figure)
    figure.text(0.5, 0.5, "一般公共预算收入", family="DejaVu Sans")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure.savefig(tmp_path / "latin.png")
    assert any("missing from font" in str(w.message) for w in caught)


def test_target_line_and_several_periods(sqlite_app, clock, tmp_path):
    with sqlite_app.sessions.begin() as s:
        indicator = s.scalar(select(Indicator).where(Indicator.key == "industrial_output"))
        indicator.target = 280.0
        s.add(IndicatorValue(indicator=indicator, period_label="2025年1-7月", period_start=date(2025, 1, 1),
                             period_end=date(2025, 7, 31), value=160.2, yoy_pct=9.1, recorded_at=clock.now()))
    out = chart_reply(Chat(sqlite_app, "陈主任"), "规上工业总产值")
    assert out.caption == "规上工业总产值趋势"
    with sqlite_app.sessions() as s:
        indicator = s.scalar(select(Indicator).where(Indicator.key == "industrial_output"))
        series = charts.indicator_series(s, indicator)
    assert [(p.label, p.derived) for p in series.points] == [("2025年1-6月", False), ("2025年1-7月", False)]
    assert series.target == 280
    with Image.open(out.path) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
        red = int(((abs(pixels[..., 0] - 0xE5) < 12) & (abs(pixels[..., 1] - 0x48) < 16)
                   & (abs(pixels[..., 2] - 0x4D) < 16)).sum())
    assert red > 200  # the dashed target line and its label


def test_one_period_without_yoy_says_it_cannot_derive(sqlite_app):
    with sqlite_app.sessions() as s:
        indicator = s.scalar(select(Indicator).where(Indicator.key == "fixed_asset_investment"))
        series = charts.indicator_series(s, indicator)
    assert len(series.points) == 1 and not series.has_derived


def test_unknown_indicator_gets_a_clear_reply(sqlite_app):
    chat = Chat(sqlite_app, "陈主任")
    assert "没有找到指标“不存在的指标”" in chat.say("/chart 不存在的指标")
    assert "请写指标名称" in chat.say("/chart")
    assert chart_reply(chat, "社零").caption.startswith("限上社会消费品零售总额")


def test_matplotlib_and_openpyxl_load_only_when_used():
    code = ("import sys, handlers.registry, bot.services.charts, bot.services.ledger_export,"
            " bot.services.ledger_import, cli.reports;"
            "print('matplotlib' in sys.modules, 'openpyxl' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False False"
