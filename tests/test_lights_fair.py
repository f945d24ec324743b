"""Lights you can trust: silence is not greener than an honest report, the yellow list agrees
with the brief, and the paging hints produce commands that work.

Each test here fails on the code before issue 10 (commit 78c92c4)."""
from datetime import date, datetime

from sqlalchemy import select

from bot.clock import OFFICE_TZ, parse_now
from bot.config import LightsConfig
from bot.models import Task
from bot.services import reports
from bot.services.lights import light_of, refresh_light_dates
from bot.services.task_lists import list_tasks

RULES = LightsConfig(behind_yellow_pp=10, behind_red_pp=30, due_soon_days=3, stale_days=14)


def _task(progress, last_activity=datetime(2025, 12, 15, 9, 0, tzinfo=OFFICE_TZ)):
    task = Task(key="t", name="t", category="c", status="active", progress=progress,
                start_date=date(2025, 1, 1), deadline=date(2025, 12, 31),
                last_activity_at=last_activity, created_at=last_activity)
    refresh_light_dates(task, RULES)
    return task


def test_never_reported_is_as_red_as_reported_zero():
    # on 07-15, 序时进度 is 54%: reported 0% and never reported are both 54 points behind
    day = date(2025, 7, 15)
    reported = light_of(_task(0, datetime(2025, 7, 14, tzinfo=OFFICE_TZ)), day)
    silent = light_of(_task(None, datetime(2025, 7, 14, tzinfo=OFFICE_TZ)), day)
    assert (reported.color, silent.color) == ("red", "red")
    assert silent.reasons == ["未报进度,慢于序时进度54个百分点"]
    assert reported.reasons == ["慢于序时进度54个百分点"]


def test_never_reported_behind_by_yellow_gap_is_yellow():
    # 02-15: 序时进度 12.4%; never reported is 12 points behind → yellow, not grey
    light = light_of(_task(None, datetime(2025, 2, 14, tzinfo=OFFICE_TZ)), date(2025, 2, 15))
    assert light.color == "yellow"
    assert light.reasons == ["未报进度,慢于序时进度12个百分点"]
    # and a few days after the start, nothing is expected yet: grey
    assert light_of(_task(None, datetime(2025, 1, 5, tzinfo=OFFICE_TZ)), date(2025, 1, 5)).color == "grey"


def test_on_12_20_silent_target_is_red_like_the_honest_50(app, chat_as, clock):
    """The issue's case: a target reported at 50% is 🔴 on 12-20; the targets nobody
    reported must not look better."""
    clock.set(parse_now("2025-12-20T09:00"))
    chat_as("周组长").say("/update 新签约引进省级重点项目1个以上 50% 在谈")
    leader = chat_as("张主任")
    honest = leader.say("/task 新签约引进省级重点项目1个以上")
    silent = leader.say("/task 外资突破2000万美元")
    assert honest.splitlines()[0].startswith("🔴 ")
    assert "慢于序时进度47个百分点" in honest
    assert silent.splitlines()[0].startswith("🔴 ")
    assert "状态:红灯,未报进度,慢于序时进度97个百分点" in silent


def test_yellow_list_agrees_with_the_brief(app, chat_as, clock):
    """A task above 70% (no red day) that went quiet is yellow on its card, in the brief's
    count and in /tasks yellow."""
    chat_as("周组长").say("/update 新签约引进省级重点项目1个以上 80% 已签约待落地")
    clock.set(parse_now("2025-07-30T09:00"))  # 15 days without a report: stale → yellow
    leader = chat_as("张主任")
    assert leader.say("/task 新签约引进省级重点项目1个以上").splitlines()[0].startswith("🟡 ")
    with app.sessions() as session:
        brief = reports.weekly_brief(session, clock.now(), app.config)
        yellow = brief.totals.get("yellow", 0)
        listed = list_tasks(session, clock.now(), None, "yellow", page_size=500)
        keys = {task.key for task, _ in listed.rows}
    assert yellow >= 1
    assert "target_provincial_key_project" in keys
    assert listed.total == yellow
    assert leader.say("/tasks yellow").startswith(f"黄灯事项(共{yellow}项")


def test_paging_hint_after_due_is_a_working_command(app, chat_as):
    chat = chat_as("张主任")
    first = chat.say("/due 200", buttons_supported=False)
    assert first.startswith("200天内到期(共18项,第1/3页)")
    hint = next(line for line in first.splitlines() if line.startswith("下一页:"))
    assert hint == "下一页:发“第2页”或 /due 200 第2页"
    assert chat.say("/due 200 第2页", buttons_supported=False).startswith("200天内到期(共18项,第2/3页)")
    assert chat.say("第3页", buttons_supported=False).startswith("200天内到期(共18项,第3/3页)")
    # the old hint's form works too: a number after /tasks is "due within N days"
    assert chat.say("/tasks 30 第2页").startswith("30天内到期:没有。")


def test_page_words_after_any_list(app, chat_as):
    chat = chat_as("张主任")
    assert chat.say("/tasks red").startswith("红灯事项(共18项,第1/3页)")
    assert chat.say("第2页").startswith("红灯事项(共18项,第2/3页)")
    assert chat.say("下一页").startswith("红灯事项(共18项,第3/3页)")
    assert chat.say("/tasks 第1页").startswith("红灯事项(共18项,第1/3页)")
    # the list is remembered for the chat: after opening a card, 第2页 still pages it
    assert "纳图电气" in chat.say("纳图电气")
    assert chat.say("第2页").startswith("红灯事项(共18项,第2/3页)")  # the last list, remembered per chat
    with app.sessions() as session:
        assert session.scalar(select(Task).where(Task.key == "natu_electric")).progress is None
