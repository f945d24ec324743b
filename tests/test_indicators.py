"""Indicator answers: value, period, year-on-year, target, completion and 序时进度."""
from datetime import date

import pytest
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


def test_fixed_asset_investment_says_whose_it_is_and_that_no_street_total_is_given(chat_as):
    answer = chat_as("张主任").say("固投多少")
    assert answer.splitlines()[:2] == ["📊 市、区重点项目固定资产投资", "7亿元(截至6月累计;报告未给全街道总额)"]
    assert "2个市重点储备项目" in answer and "7个区重点项目" in answer


@pytest.mark.parametrize("question, head", [
    ("楼宇闲置率", ["📊 楼宇闲置率下降", "10%(2025年上半年)"]),
    ("楼宇招商项目", ["📊 楼宇招商项目增长", "10%(2025年上半年)"]),
])
def test_building_changes_are_not_called_yoy(chat_as, question, head):
    answer = chat_as("张主任").say(question)
    assert answer.splitlines()[:2] == head
    assert "同比" not in answer


def test_building_changes_in_the_category_list(chat_as):
    lines = chat_as("张主任").say("/kpi 招商引资").splitlines()
    assert "· 楼宇招商项目增长 10%" in lines and "· 楼宇闲置率下降 10%" in lines


@pytest.mark.parametrize("question, value_line", [
    ("新建载体", "预计1.8万平方米(下半年预计,非上半年实绩)"),
    ("盘活载体", "预计2.1万平方米(下半年预计,非上半年实绩)"),
])
def test_carrier_areas_are_forecasts(chat_as, question, value_line):
    assert chat_as("张主任").say(question).splitlines()[1] == value_line


def test_land_parcels_are_in_progress(chat_as):
    answer = chat_as("张主任").say("地块清结")
    assert answer.splitlines()[:2] == ["📊 全力推进清结的地块", "8个(截至2025年6月,推进中,非已清结)"]


@pytest.mark.parametrize("question, shown", [
    ("办结率", "95%以上"), ("城市问题", "近1.5万起"), ("释放土地", "约318.2亩"), ("高企申报", "预计18家"),
])
def test_more_qualifiers_are_kept(chat_as, question, shown):
    assert shown in chat_as("张主任").say(question).splitlines()[1]
