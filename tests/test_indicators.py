"""Indicator answers: value, period, year-on-year, target, completion and 序时进度."""
from datetime import date

from sqlalchemy import select

from bot.models import Indicator
from bot.services.indicators import year_elapsed_pct


def test_budget_revenue_answer_is_exact(chat_as):
    answer = chat_as("张主任").say("财政收入多少")
    assert answer.splitlines()[:2] == ["📊 一般公共预算收入", "预计3.5亿元(2025年1-6月),同比+18%"]


def test_answer_without_target_says_nothing_about_schedule(chat_as):
    answer = chat_as("张主任").say("社零")
    assert "目标" not in answer and "序时进度" not in answer


def test_target_completion_and_schedule_gap(app, chat_as):
    # Give HW人才计划申报 (19人 in Jan-Jun) an annual target of 40: 47.5% done, 50% of the
    # year elapsed at 2025-06-30 -> 2.5 points behind 序时进度 (worked out by hand).
    with app.sessions.begin() as session:
        indicator = session.scalar(select(Indicator).where(Indicator.key == "hw_talent_applications"))
        indicator.target = 40
    answer = chat_as("张主任").say("HW人才计划申报")
    assert "全年目标40人,完成47.5%" in answer
    assert "序时进度50%,慢于序时进度2.5个百分点" in answer


def test_year_elapsed_uses_whole_months_at_month_end():
    assert year_elapsed_pct(date(2025, 6, 30)) == 50.0
    assert round(year_elapsed_pct(date(2025, 4, 30)), 1) == 33.3
    assert round(year_elapsed_pct(date(2025, 1, 10)), 2) == round(10 * 100 / 365, 2)


def test_kpi_lists_a_category(chat_as):
    answer = chat_as("张主任").say("/kpi 经济运行")
    assert answer.startswith("【经济运行】")
    assert "· 规上工业总产值 135.7亿元 +8.4%" in answer
    assert chat_as("张主任").say("/kpi 外星").startswith("没有“外星”这个类别")


def test_qualifiers_are_kept(chat_as):
    assert "超1600家次" in chat_as("张主任").say("巡查执法")
    assert "300余米" in chat_as("张主任").say("拆除围挡")
