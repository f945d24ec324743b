"""Pictures for phones: an indicator's trend (/chart) and the weekly brief (/brief).

matplotlib is imported lazily inside the functions (with the off-screen Agg canvas, no
pyplot), so the bot starts fast and no display is needed. Chinese text needs a CJK font:
``cjk_font()`` finds an installed one (``make fonts`` installs WenQuanYi
Micro Hei on Debian); without one the picture still renders, with a warning in the log.

Images are 1080 px wide, the width of a phone screen.

When only one period of an indicator is known (the common case in the report's data), the
chart compares it with the same period a year earlier derived from the year-on-year figure,
value / (1 + yoy/100), drawn hatched and labelled 推算.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from sqlalchemy.orm import Session

from bot.models import Indicator
from bot.services.text import fmt_number, fmt_signed

if TYPE_CHECKING:
    from bot.services.reports import WeeklyBrief

logger = logging.getLogger(__name__)

WIDTH_PX = 1080
DPI = 150
#: preferred CJK families, best first
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei", "Droid Sans Fallback", "Noto Sans CJK JP", "Noto Sans CJK TC",
    "AR PL UMing CN", "SimHei", "Microsoft YaHei", "PingFang SC",
)
_CJK_FILE = re.compile(r"(wqy|wenquanyi|notosanscjk|noto-cjk|notosanssc|sourcehansans|droidsansfallback|"
                       r"uming|ukai|simhei|msyh)", re.I)
LIGHT_COLORS = {"red": "#E5484D", "yellow": "#F5B700", "green": "#30A46C", "grey": "#B0B4BA",
                "done": "#3E7BFA", "paused": "#8E8E93"}
_font_cache: dict[str, Optional[str]] = {}


def cjk_font() -> Optional[str]:
    """The family name of an installed CJK font, or None (then Chinese shows as boxes)."""
    if "family" in _font_cache:
        return _font_cache["family"]
    from matplotlib import font_manager

    def installed() -> Optional[str]:
        names = {entry.name for entry in font_manager.fontManager.ttflist}
        return next((family for family in CJK_FAMILIES if family in names), None)

    family = installed()
    if family is None:
        # matplotlib's font list is cached: a font installed after it was built is added here
        for path in font_manager.findSystemFonts():
            if _CJK_FILE.search(Path(path).name.replace(" ", "")):
                try:
                    font_manager.fontManager.addfont(path)
                except Exception:  # noqa: BLE001 - a broken font file is skipped
                    logger.debug("cannot add font %s", path)
        family = installed()
    if family is None:
        logger.warning("no CJK font found: Chinese text in charts will show as boxes; "
                       "run: make fonts")
    _font_cache["family"] = family
    return family


def cjk_font_file() -> Optional[str]:
    """The file matplotlib uses for the CJK family (for tests and diagnostics)."""
    family = cjk_font()
    if family is None:
        return None
    from matplotlib import font_manager

    return font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)


def _rc() -> dict:
    family = cjk_font()
    families = ([family] if family else []) + ["DejaVu Sans"]
    return {"font.family": "sans-serif", "font.sans-serif": families, "axes.unicode_minus": False,
            "font.size": 11}


def _figure(height_px: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, height_px / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


# ---------------------------------------------------------------- indicator trend

@dataclass
class ChartPoint:
    label: str
    period_end: date
    value: float
    yoy_pct: Optional[float] = None
    derived: bool = False


@dataclass
class IndicatorSeries:
    name: str
    unit: str
    points: list[ChartPoint] = field(default_factory=list)
    target: Optional[float] = None
    derived_note: Optional[str] = None
    missing: list[str] = field(default_factory=list)

    @property
    def has_derived(self) -> bool:
        return any(p.derived for p in self.points)


def _year_earlier(label: str) -> str:
    match = re.match(r"^(.*?)(\d{4})(年.*)$", label)
    if match:
        return f"{match.group(1)}{int(match.group(2)) - 1}{match.group(3)}"
    return f"上年同期({label})"


def indicator_series(session: Session, indicator: Indicator) -> IndicatorSeries:
    """The indicator's known periods; with one period, the year-earlier one derived from yoy."""
    series = IndicatorSeries(indicator.name, indicator.unit or "", target=indicator.target)
    for value in indicator.values:
        if value.value is None:
            series.missing.append(value.period_label)
            continue
        series.points.append(ChartPoint(value.period_label, value.period_end, value.value, value.yoy_pct))
    if len(series.points) == 1:
        only = series.points[0]
        if only.yoy_pct is not None and only.yoy_pct > -100:
            earlier = only.value / (1 + only.yoy_pct / 100.0)
            try:
                end = only.period_end.replace(year=only.period_end.year - 1)
            except ValueError:  # 29 February
                end = only.period_end.replace(year=only.period_end.year - 1, day=28)
            series.points.insert(0, ChartPoint(_year_earlier(only.label) + "(推算)", end, earlier, derived=True))
            series.derived_note = (f"推算:上年同期 = {fmt_number(only.value)} ÷ (1{only.yoy_pct:+g}%) "
                                   f"≈ {fmt_number(earlier)}{series.unit}")
    return series


def _record_fonts(figure, fonts_used: Optional[set]) -> None:
    """Put the font files of the figure's non-empty texts into ``fonts_used`` (for tests)."""
    if fonts_used is None:
        return
    from matplotlib import font_manager
    from matplotlib.text import Text

    for text in figure.findobj(Text):
        if text.get_text().strip():
            fonts_used.add(font_manager.findfont(text.get_fontproperties()))


def render_indicator_chart(series: IndicatorSeries, path: Path, fonts_used: Optional[set] = None) -> Path:
    """A bar chart 1080 px wide: values by period, yoy above bars, target line, derived bars hatched."""
    from matplotlib import rc_context

    with rc_context(_rc()):
        figure = _figure(760)
        ax = figure.add_axes((0.1, 0.2, 0.86, 0.64))
        title = f"{series.name}({series.unit})" if series.unit else series.name
        figure.text(0.5, 0.93, title, ha="center", fontsize=16, weight="bold")
        if not series.points:
            ax.axis("off")
            ax.text(0.5, 0.5, "暂无数值", ha="center", va="center", fontsize=16, transform=ax.transAxes)
        else:
            labels = [p.label for p in series.points]
            values = [p.value for p in series.points]
            xs = list(range(len(values)))
            colors = ["#C9D7F2" if p.derived else "#3E7BFA" for p in series.points]
            bars = ax.bar(xs, values, color=colors, width=0.55, edgecolor="#3E7BFA",
                          hatch=None, zorder=2)
            for bar, point in zip(bars, series.points):
                if point.derived:
                    bar.set_hatch("//")
            top = max(values + ([series.target] if series.target else []))
            ax.set_ylim(0, top * 1.25 if top > 0 else 1)
            for x, point in zip(xs, series.points):
                text = fmt_number(point.value)
                if point.yoy_pct is not None:
                    text += f"\n同比{fmt_signed(point.yoy_pct)}"
                if point.derived:
                    text += "\n推算"
                ax.text(x, point.value + top * 0.02, text, ha="center", va="bottom", fontsize=11)
            if len(xs) > 2:
                ax.plot(xs, values, color="#F08C00", marker="o", zorder=3)
            if series.target:
                ax.axhline(series.target, color="#E5484D", linestyle="--", zorder=1)
                ax.text(xs[-1] + 0.3, series.target, f"全年目标 {fmt_number(series.target)}",
                        color="#E5484D", ha="right", va="bottom", fontsize=10)
            ax.set_xticks(xs, labels, fontsize=10)
            ax.grid(axis="y", color="#E6E6E6", zorder=0)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
        notes = []
        if series.derived_note:
            notes.append(series.derived_note)
        elif len(series.points) == 1:
            notes.append("仅有一期数据,且没有同比,无法推算上年同期。")
        if series.missing:
            notes.append("报告未给出数值:" + "、".join(series.missing))
        if notes:
            figure.text(0.04, 0.04, "\n".join(notes), fontsize=9, color="#555555", va="bottom")
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=DPI)
        _record_fonts(figure, fonts_used)
    return path


def indicator_chart(session: Session, indicator: Indicator, path: Path) -> tuple[Path, IndicatorSeries]:
    series = indicator_series(session, indicator)
    return render_indicator_chart(series, path), series


# ---------------------------------------------------------------- weekly brief

def render_brief(brief: "WeeklyBrief", path: Path, fonts_used: Optional[set] = None) -> Path:
    """The weekly brief as one image: lights by team, turned red, due next week, indicators."""
    from matplotlib import rc_context

    sections = [
        (f"本周转红({len(brief.turned_red)})", [item.line() for item in brief.turned_red]),
        (f"{brief.due_label}({len(brief.due_next)})", [item.line() for item in brief.due_next]),
        (f"指标更新({len(brief.indicators)})", [item.line() for item in brief.indicators]),
    ]
    shown = [(title, lines[:8] + ([f"……等{len(lines)}项"] if len(lines) > 8 else []) or ["无"])
             for title, lines in sections]
    teams = brief.teams
    chart_px = 90 + 34 * max(1, len(teams))
    text_lines = sum(len(lines) + 1.6 for _, lines in shown)
    height = int(190 + chart_px + 34 * text_lines)
    with rc_context(_rc()):
        figure = _figure(height)
        y = 1 - 40 / height
        figure.text(0.5, y, f"{brief.office}督办周报", ha="center", va="top", fontsize=17, weight="bold")
        y -= 44 / height
        totals = brief.totals
        summary = "  ".join(f"{name}{totals.get(color, 0)}" for color, name in brief.light_names())
        figure.text(0.5, y, f"{brief.start:%m-%d}~{brief.end:%m-%d}  {summary}", ha="center", va="top",
                    fontsize=11, color="#444444")
        y -= 30 / height
        ax = figure.add_axes((0.22, y - chart_px / height, 0.72, chart_px / height - 40 / height))
        names = [t.name for t in teams]
        ys = list(range(len(teams)))[::-1]
        lefts = [0] * len(teams)
        for color, label in brief.light_names():
            counts = [t.counts.get(color, 0) for t in teams]
            if not any(counts):
                continue
            ax.barh(ys, counts, left=lefts, color=LIGHT_COLORS[color], label=label, height=0.7)
            lefts = [a + b for a, b in zip(lefts, counts)]
        ax.set_yticks(ys, names, fontsize=10)
        ax.tick_params(axis="x", labelsize=9)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if teams:
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=6, fontsize=9, frameon=False)
        else:
            ax.text(0.5, 0.5, "还没有事项", ha="center", va="center", transform=ax.transAxes)
        y -= chart_px / height + 36 / height
        for title, lines in shown:
            figure.text(0.04, y, title, fontsize=13, weight="bold", va="top")
            y -= 36 / height
            for line in lines:
                figure.text(0.06, y, line, fontsize=10.5, va="top")
                y -= 32 / height
            y -= 14 / height
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=DPI)
        _record_fonts(figure, fonts_used)
    return path
