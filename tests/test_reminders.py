"""Reminders on the working-day calendar: what users get pushed, and when, driven by the clock.

The clock is set, the tick and the delivery are run directly, and a recording notifier
stands in for the chat transport. Everything else is real (SQLite files; PostgreSQL where
the test takes the ``app`` fixture).
"""
from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Optional

import pytest
from sqlalchemy import func, select

from bot.clock import parse_now
from bot.messages import Reply
from bot.models import (
    ExtensionRequest,
    Milestone,
    OutboxMessage,
    Person,
    Task,
    Team,
)
from bot.notify import DeliveryError, NotifierRouter
from bot.services.lights import refresh_light_dates, schedule_progress
from jobs.outbox import ReminderRunner
from tests.conftest import Chat


class Recorder:
    """The transport: remembers every push (chat id, reply)."""

    def __init__(self, fail: Optional[list] = None, can_send_photos: bool = True) -> None:
        self.sent: list[tuple[str, Reply]] = []
        self.fail = list(fail or [])
        self.can_send_photos = can_send_photos

    async def send(self, chat_id: str, reply: Reply, max_wait=None) -> None:
        if self.fail:
            error = self.fail.pop(0)
            if error is not None:
                raise error
        self.sent.append((chat_id, reply))

    def texts(self, who: Optional[str] = None) -> list[str]:
        return [r.text for c, r in self.sent if who is None or c == who]


def runner_for(app, recorder: Optional[Recorder] = None, worker: str = "t") -> tuple[ReminderRunner, Recorder]:
    recorder = recorder or Recorder()
    router = NotifierRouter()
    router.register("console", recorder)
    return ReminderRunner(app, router, worker=worker), recorder


def run_at(app, runner: ReminderRunner, when: str):
    app.clock.set(parse_now(when))
    runner.tick()
    return asyncio.run(runner.deliver_all())


def add_task(app, key: str, deadline: Optional[date], owner: Optional[str] = "王干部", team: str = "xm1",
             status: str = "active", last_activity: Optional[datetime] = None) -> int:
    with app.sessions.begin() as session:
        now = app.clock.now()
        team_row = session.scalar(select(Team).where(Team.code == team))
        owner_row = session.scalar(select(Person).where(Person.name == owner)) if owner else None
        task = Task(key=key, name=f"测试事项{key}", category="重点项目", team_id=team_row.id,
                    owner_id=owner_row.id if owner_row else None, deadline=deadline, status=status,
                    start_date=None, last_activity_at=last_activity or now, created_at=now)
        refresh_light_dates(task, app.config.lights)
        session.add(task)
        session.flush()
        return task.id


def days(first: str, last: str) -> list[date]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


def walk(app, runner, first: str, last: str, at: str = "09:00") -> None:
    for day in days(first, last):
        run_at(app, runner, f"{day}T{at}")


def sent_rows(app, kind: Optional[str] = None, task_id: Optional[int] = None) -> list[OutboxMessage]:
    with app.sessions() as session:
        query = select(OutboxMessage).where(OutboxMessage.status == "sent").order_by(OutboxMessage.sent_at, OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        if task_id:
            query = query.where(OutboxMessage.task_id == task_id)
        return list(session.scalars(query))


def pressed(chat: Chat, reply: Reply, label: str):
    return chat.press(label, [reply])


@pytest.fixture
def december(sqlite_app):
    """The demo data as if imported on 2025-12-01 00:00, with the clock there."""
    sqlite_app.clock.set(parse_now("2025-12-01T00:00"))
    with sqlite_app.sessions.begin() as session:
        for task in session.scalars(select(Task)):
            task.last_activity_at = sqlite_app.clock.now()
            on_schedule(task, sqlite_app.clock.now().date())
            refresh_light_dates(task, sqlite_app.config.lights)
    return sqlite_app


def on_schedule(task: Task, today: date) -> None:
    """As if reported on schedule today: a silent task would otherwise be red for being behind."""
    expected = schedule_progress(task, today)
    if task.status == "active" and expected is not None and (task.progress or 0) < expected:
        task.progress = round(expected)


def about(rec: Recorder, key: str) -> list[str]:
    """Pushes about one test task (digest lines do not count)."""
    return [t for t in rec.texts() if f"📌 测试事项{key}" in t]


# ---------------------------------------------------------------- deadlines and the calendar

def test_three_reminders_across_a_weekend(december):
    app = december
    task_id = add_task(app, "wk", date(2025, 12, 15))  # a Monday
    runner, rec = runner_for(app)
    walk(app, runner, "2025-12-08", "2025-12-16")
    rows = sent_rows(app, "deadline", task_id)
    assert [r.sent_at.date() for r in rows] == [date(2025, 12, 10), date(2025, 12, 12), date(2025, 12, 15)]
    assert all(r.sent_at.strftime("%H:%M") == "09:00" for r in rows)
    texts = [t for t in rec.texts("王干部") if "测试事项wk" in t and "到期提醒" in t]
    assert "还有3个工作日到期" in texts[0] and "还有1个工作日到期" in texts[1] and "今天到期" in texts[2]
    assert "12月15日(周一)" in texts[0]
    labels = [b.label for _, r in rec.sent if "测试事项wk" in r.text for row in r.buttons for b in row]
    assert {"报进展", "申请延期", "1小时后提醒", "明早提醒"} <= set(labels)


def test_national_day_holiday_and_make_up_workdays(sqlite_app):
    app = sqlite_app
    app.clock.set(parse_now("2025-09-20T00:00"))
    on_holiday = add_task(app, "gq", date(2025, 10, 3))   # in the holiday: counts as Oct 9
    after = add_task(app, "gq2", date(2025, 10, 13))       # T-1 is Saturday Oct 11, a make-up workday
    runner, rec = runner_for(app)
    walk(app, runner, "2025-09-25", "2025-10-14")
    first = [r.sent_at.date() for r in sent_rows(app, "deadline", on_holiday)]
    # Sunday Sep 28 is a make-up workday; Oct 1-8 are off
    assert first == [date(2025, 9, 28), date(2025, 9, 30), date(2025, 10, 9)]
    second = [r.sent_at.date() for r in sent_rows(app, "deadline", after)]
    assert second == [date(2025, 10, 9), date(2025, 10, 11), date(2025, 10, 13)]
    holiday_texts = [t for t in rec.texts() if "测试事项gq\n" in t or "测试事项gq(" in t]
    assert any("10月9日(周四)" in t and "逢休息日顺延" in t for t in holiday_texts)


def test_year_without_calendar_data_falls_back_and_warns_admins_once(december):
    app = december
    task_id = add_task(app, "y27", date(2027, 1, 4))
    app.clock.set(parse_now("2026-12-28T00:00"))
    runner, rec = runner_for(app)
    walk(app, runner, "2026-12-28", "2027-01-05")
    sent = [r.sent_at.date() for r in sent_rows(app, "deadline", task_id)]
    # fallback to the holidays package: Friday 2027-01-01 (元旦) is off, so T-1 is 2026-12-31
    assert sent == [date(2026, 12, 29), date(2026, 12, 31), date(2027, 1, 4)]
    warnings = [t for t in rec.texts("张主任") if "2027" in t and "日历" in t]
    assert len(warnings) == 1
    # a fresh process warns again only if the outbox has no warning yet: it has one
    runner2, rec2 = runner_for(app)
    run_at(app, runner2, "2027-01-05T10:00")
    assert not [t for t in rec2.texts() if "日历" in t]


def test_completed_or_paused_tasks_get_nothing_and_a_moved_deadline_is_followed(december):
    app = december
    done = add_task(app, "dn", date(2025, 12, 15), status="done")
    paused = add_task(app, "ps", date(2025, 12, 15), status="paused")
    moved = add_task(app, "mv", date(2025, 12, 15))
    runner, rec = runner_for(app)
    walk(app, runner, "2025-12-08", "2025-12-10")
    with app.sessions.begin() as session:
        session.get(Task, moved).deadline = date(2025, 12, 19)
    walk(app, runner, "2025-12-11", "2025-12-19")
    assert sent_rows(app, "deadline", done) == [] and sent_rows(app, "deadline", paused) == []
    dates = [r.sent_at.date() for r in sent_rows(app, "deadline", moved)]
    assert dates == [date(2025, 12, 10), date(2025, 12, 16), date(2025, 12, 18), date(2025, 12, 19)]


def test_milestone_due_dates_are_reminded(december):
    app = december
    task_id = add_task(app, "msk", None)
    with app.sessions.begin() as session:
        session.add(Milestone(task_id=task_id, name="封顶", due=date(2025, 12, 12), sort_order=1))
    runner, rec = runner_for(app)
    walk(app, runner, "2025-12-08", "2025-12-12")
    dates = [r.sent_at.date() for r in sent_rows(app, "milestone", task_id)]
    assert dates == [date(2025, 12, 9), date(2025, 12, 11), date(2025, 12, 12)]
    assert any("封顶" in t for t in rec.texts("王干部"))


# ---------------------------------------------------------------- snooze, extension, escalation

def _push_for(rec: Recorder, text: str) -> Reply:
    return next(r for _, r in reversed(rec.sent) if text in r.text)


def test_snooze_one_hour_and_tomorrow_morning(december):
    app = december
    add_task(app, "sn", date(2025, 12, 15))
    runner, rec = runner_for(app)
    run_at(app, runner, "2025-12-10T09:00")
    push = _push_for(rec, "测试事项sn")
    wang = Chat(app, "王干部")
    answer = pressed(wang, push, "1小时后提醒")
    assert "12-10 10:00 再提醒你" in answer[0].text
    run_at(app, runner, "2025-12-10T09:59")
    assert len(about(rec, "sn")) == 1
    run_at(app, runner, "2025-12-10T10:00")
    again = about(rec, "sn")
    assert len(again) == 2 and again[1].startswith("🔔 稍后提醒")
    # by typing: the latest reminder, tomorrow morning
    assert "12-11 09:00 再提醒你" in wang.say("稍后提醒 明早")
    run_at(app, runner, "2025-12-11T09:00")
    assert len(about(rec, "sn")) == 3
    # bad input: a clear answer, nothing recorded
    before = len(sent_rows(app))
    assert "1小时" in wang.say("稍后提醒 乱七八糟")
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.status == "pending")) == 0
    assert len(sent_rows(app)) == before


def _ask_extension(app, runner, rec, key: str) -> tuple[Chat, int]:
    wang = Chat(app, "王干部")
    push = _push_for(rec, f"测试事项{key}")
    step1 = pressed(wang, push, "申请延期")
    assert "请发新的日期" in step1[0].text
    assert wang.say("下辈子") == ("看不懂这个日期:下辈子。可以写 2025-12-31、12月31日、12.31 或 下周五\n"
                                 "请重新发新的日期,或发“取消”。")
    # 26 days: within workflow.extension_leader_days, the team lead decides alone
    assert "新日期:2026年1月10日" in wang.say("1月10日")
    done = wang.say("设备到货推迟")
    assert "延期申请已提交" in done
    request_id = int(done.split("编号")[1].split(")")[0])
    return wang, request_id


def test_extension_approved_with_one_tap(december):
    app = december
    task_id = add_task(app, "ex1", date(2025, 12, 15))
    runner, rec = runner_for(app)
    run_at(app, runner, "2025-12-10T09:00")
    wang, request_id = _ask_extension(app, runner, rec, "ex1")
    run_at(app, runner, "2025-12-10T09:05")
    ask = _push_for(rec, f"延期申请(编号{request_id})")
    assert "设备到货推迟" in ask.text and "2026年1月10日" in ask.text
    assert [c for c, r in rec.sent if r is ask] == ["李组长"]
    # someone else cannot decide
    assert "只有本专班负责人" in Chat(app, "赵干部").say(f"同意延期 {request_id}")
    li = Chat(app, "李组长")
    answer = pressed(li, ask, "同意延期")
    assert "已同意延期" in answer[0].text
    with app.sessions() as session:
        assert session.get(Task, task_id).deadline == date(2026, 1, 10)
        assert session.get(ExtensionRequest, request_id).status == "approved"
    run_at(app, runner, "2025-12-10T09:10")
    assert any("延期已同意" in t and "2026年1月10日" in t for t in rec.texts("王干部"))
    # the old deadline's remaining reminders are gone: nothing on Dec 12 or 15
    walk(app, runner, "2025-12-11", "2025-12-15")
    assert [r.sent_at.date() for r in sent_rows(app, "deadline", task_id)] == [date(2025, 12, 10)]
    # a second tap changes nothing
    assert "不用再处理" in li.say(f"同意延期 {request_id}")


def test_extension_refused_by_reply(december):
    app = december
    task_id = add_task(app, "ex2", date(2025, 12, 15))
    runner, rec = runner_for(app)
    run_at(app, runner, "2025-12-10T09:00")
    wang, request_id = _ask_extension(app, runner, rec, "ex2")
    li = Chat(app, "李组长")
    assert "请写申请编号" in li.say("不同意延期")
    assert "已不同意延期" in li.say(f"不同意延期 {request_id} 年底前必须完成")
    with app.sessions() as session:
        assert session.get(Task, task_id).deadline == date(2025, 12, 15)
        assert session.get(ExtensionRequest, request_id).status == "refused"
    run_at(app, runner, "2025-12-10T09:10")
    told = [t for t in rec.texts("王干部") if "延期未同意" in t]
    assert len(told) == 1 and "年底前必须完成" in told[0]


def test_extension_date_must_be_later(december):
    app = december
    add_task(app, "ex3", date(2025, 12, 15))
    runner, rec = runner_for(app)
    run_at(app, runner, "2025-12-10T09:00")
    wang = Chat(app, "王干部")
    pressed(wang, _push_for(rec, "测试事项ex3"), "申请延期")
    assert "要晚于" in wang.say("12月12日")
    assert "已取消" in wang.say("取消")
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ExtensionRequest)) == 0


def test_escalation_steps(december):
    app = december
    task_id = add_task(app, "es", date(2025, 12, 10))  # Wednesday
    runner, rec = runner_for(app)
    walk(app, runner, "2025-12-10", "2025-12-17")
    rows = sent_rows(app, "escalation", task_id)
    with app.sessions() as session:
        names = {r.id: session.get(Person, r.person_id).name for r in rows}
    assert [(r.sent_at.date(), names[r.id]) for r in rows] == [
        (date(2025, 12, 11), "李组长"),     # 1 working day overdue: the team lead
        (date(2025, 12, 15), "陈主任"),     # 3 working days (11, 12, 15): the leader in charge
    ]
    assert "已逾期1个工作日" in _push_for(rec, "已逾期1个工作日").text
    assert "责任人:王干部" in _push_for(rec, "已逾期3个工作日").text


# ---------------------------------------------------------------- digests and briefs

def test_team_lead_digest_most_urgent_first_and_silent_when_nothing(december):
    app = december
    add_task(app, "late", date(2025, 12, 5))
    add_task(app, "soon", date(2025, 12, 12))
    runner, rec = runner_for(app)
    run_at(app, runner, "2025-12-09T08:30")
    digest = [t for t in rec.texts("李组长") if t.startswith("📋")]
    assert len(digest) == 1
    lines = digest[0].splitlines()
    assert "逾期1" in lines[1]
    assert lines[2].startswith("🔴测试事项late") and "逾期4天" in lines[2]
    assert any("测试事项soon" in line and "12月12日到期" in line for line in lines[3:])
    # 周组长's team has nothing urgent yet (the dataset's tasks are fresh): nothing sent
    assert not [t for t in rec.texts("周组长") if t.startswith("📋")]
    # Saturday: no digest
    run_at(app, runner, "2025-12-13T08:30")
    assert len([t for t in rec.texts("李组长") if t.startswith("📋")]) == 1


def test_stale_digest_is_replaced_by_one_current_digest(december):
    app = december
    add_task(app, "old", date(2025, 12, 5))
    runner, rec = runner_for(app)
    # the bot was down from Monday 00:00 until Tuesday 14:00
    run_at(app, runner, "2025-12-08T00:00")
    run_at(app, runner, "2025-12-09T14:00")
    digests = [t for t in rec.texts("李组长") if "督办" in t and "📋" in t]
    assert len(digests) == 1  # Monday's is not replayed
    assert digests[0].startswith("(补发)📋") and "12月9日" in digests[0]
    # a digest recorded this morning but never delivered is re-rendered hours later
    run_at(app, runner, "2025-12-10T08:29")
    app.clock.set(parse_now("2025-12-10T08:30"))
    runner.tick()
    with app.sessions.begin() as session:
        session.get(Task, session.scalar(select(Task.id).where(Task.key == "old"))).deadline = date(2025, 12, 3)
    app.clock.set(parse_now("2025-12-10T15:00"))
    asyncio.run(runner.deliver_all())
    latest = [t for t in rec.texts("李组长") if "📋" in t][-1]
    assert "12月10日" in latest and "逾期7天" in latest


def test_weekly_brief_on_monday_for_leaders(december):
    app = december
    add_task(app, "red", date(2025, 12, 5))
    runner, rec = runner_for(app)
    run_at(app, runner, "2025-12-08T08:30")
    briefs = [c for c, r in rec.sent if r.text.startswith("📊 雕庄街道督办周报")]
    assert sorted(briefs) == ["张主任", "陈主任"]
    text = _push_for(rec, "督办周报").text
    assert text.startswith("📊 雕庄街道督办周报(12-01~12-08)")
    assert "红灯较多:项目一专班1" in text and "【本周转红(1)】\n- 12-06 测试事项red(项目一专班·王干部),逾期" in text
    run_at(app, runner, "2025-12-09T08:30")
    assert len([1 for c, r in rec.sent if "督办周报" in r.text]) == 2


def test_stale_nudge_on_friday(december):
    app = december
    add_task(app, "quiet", None, last_activity=parse_now("2025-12-01T10:00"))
    add_task(app, "fresh", None, last_activity=parse_now("2025-12-10T10:00"))
    runner, rec = runner_for(app)
    walk(app, runner, "2025-12-04", "2025-12-12")
    nudges = [(c, r.text) for c, r in rec.sent if r.text.startswith("📝")]
    # Friday Dec 5 is only 4 working days after Monday Dec 1; Friday Dec 12 is 9.
    # One message per person, listing their quiet tasks (王干部 also owns 纳图电气).
    mine = [t for c, t in nudges if c == "王干部"]
    assert len(mine) == 1
    assert "2个事项超过5个工作日没有更新" in mine[0]
    assert "📌 测试事项quiet(9个工作日,上次 12月1日)" in mine[0] and "纳图电气" in mine[0]
    assert "测试事项fresh" not in mine[0]
    assert sent_rows(app, "stale")[0].sent_at == parse_now("2025-12-12T09:00")


# ---------------------------------------------------------------- settings and quiet hours

def test_remind_settings_and_bad_input(december):
    app = december
    wang = Chat(app, "王干部")
    shown = wang.say("/remind")
    assert "提醒时间:09:00(默认)" in shown and "免打扰:22:00-07:30" in shown and "状态:开启" in shown
    assert "提醒时间改为 08:15" in wang.say("/remind 时间 8:15")
    assert "免打扰改为 21:00-08:00" in wang.say("/remind 免打扰 21:00-8:00")
    assert "看不懂" in wang.say("/remind 时间 25:99")
    with app.sessions() as session:
        person = session.scalar(select(Person).where(Person.name == "王干部"))
        assert person.remind_time.strftime("%H:%M") == "08:15"
    task_id = add_task(app, "rt", date(2025, 12, 15))
    runner, rec = runner_for(app)
    run_at(app, runner, "2025-12-10T08:15")
    assert [r.sent_at.strftime("%H:%M") for r in sent_rows(app, "deadline", task_id)] == ["08:15"]
    # off for a week: the reminders of that week are not sent, and not sent later either
    assert "已关闭提醒一周" in wang.say("/remind 关闭一周")
    walk(app, runner, "2025-12-11", "2025-12-15", at="08:15")
    assert len(sent_rows(app, "deadline", task_id)) == 1
    with app.sessions() as session:
        skipped = session.scalars(select(OutboxMessage.last_error).where(
            OutboxMessage.task_id == task_id, OutboxMessage.kind == "deadline",
            OutboxMessage.status == "skipped")).all()
    assert skipped == ["muted", "muted"]
    assert "提醒已开启" in wang.say("提醒设置 开启")


def test_quiet_hours_postpone_a_push(december):
    app = december
    add_task(app, "qh", date(2025, 12, 15))
    runner, rec = runner_for(app)
    run_at(app, runner, "2025-12-10T09:00")
    wang = Chat(app, "王干部")
    app.clock.set(parse_now("2025-12-10T21:00"))
    assert "12-10 23:00" in wang.say("稍后提醒 两小时")
    run_at(app, runner, "2025-12-10T23:00")
    assert len(about(rec, "qh")) == 1  # held back
    with app.sessions() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "snooze"))
        assert row.next_attempt_at == parse_now("2025-12-11T07:30")
    run_at(app, runner, "2025-12-11T07:30")
    assert len(about(rec, "qh")) == 2


# ---------------------------------------------------------------- delivery guarantees

def test_send_fails_twice_then_succeeds(december):
    app = december
    add_task(app, "rt2", date(2025, 12, 15))
    class FailTwice(Recorder):
        async def send(self, chat_id, reply, max_wait=None):
            if "📌 测试事项rt2" in reply.text and self.fail:
                raise self.fail.pop(0)
            self.sent.append((chat_id, reply))

    rec = FailTwice(fail=[DeliveryError("429 Too Many Requests", retry_after=30),
                          DeliveryError("502 Bad Gateway")])
    runner, _ = runner_for(app, rec)
    run_at(app, runner, "2025-12-10T09:00")
    with app.sessions() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "deadline",
                                                         OutboxMessage.status == "pending"))
        assert row.attempts == 1 and "429" in row.last_error
        assert row.next_attempt_at == parse_now("2025-12-10T09:00:30")  # retry_after honoured
    row_id = row.id
    run_at(app, runner, "2025-12-10T09:00:30")
    with app.sessions() as session:
        row = session.get(OutboxMessage, row_id)
        assert row.attempts == 2 and row.status == "pending"
        assert row.next_attempt_at == parse_now("2025-12-10T09:00:40")  # 5 s * 2
    run_at(app, runner, "2025-12-10T09:00:40")
    with app.sessions() as session:
        row = session.get(OutboxMessage, row_id)
        assert row.status == "sent" and row.attempts == 3
    assert len(about(rec, "rt2")) == 1


def test_gives_up_after_max_attempts_and_tells_admins(december):
    app = december
    app.config.reminders.max_attempts = 2
    add_task(app, "gu", date(2025, 12, 15))

    class Flaky(Recorder):
        async def send(self, chat_id, reply, max_wait=None):
            if chat_id == "王干部" and "📌 测试事项gu" in reply.text:
                raise DeliveryError("500 Internal Server Error")
            await super().send(chat_id, reply)

    rec = Flaky()
    runner, _ = runner_for(app, rec)
    run_at(app, runner, "2025-12-10T09:00")
    run_at(app, runner, "2025-12-10T09:00:05")
    with app.sessions() as session:
        failed = session.scalars(select(OutboxMessage).where(OutboxMessage.status == "failed")).all()
        assert [(r.kind, r.attempts) for r in failed] == [("deadline", 2)]
    warnings = [t for t in rec.texts("张主任") if "推送失败已放弃" in t and "测试事项gu" in t]
    assert len(warnings) == 1 and "收件人:王干部" in warnings[0]


def test_restart_in_the_middle_of_a_batch(december):
    app = december
    ids = [add_task(app, f"b{i}", date(2025, 12, 15), owner=None if i % 2 else "王干部") for i in range(6)]
    runner, rec = runner_for(app, worker="first")
    app.clock.set(parse_now("2025-12-10T09:00"))
    runner.tick()
    # the first process claims a batch, sends two, then dies
    token, claimed = runner.claim(app.clock.now(), limit=100)
    from jobs.outbox import DeliveryReport

    jobs = runner._prepare(token, claimed, app.clock.now(), DeliveryReport())
    for job in jobs[:2]:
        asyncio.run(rec.send(job.chat_id, job.reply))
        runner._finish(token, job, app.clock.now(), None)
    total = len(jobs)
    # a restarted process: the tick records nothing new; the rest go out once the lease ends
    runner2, rec2 = runner_for(app, worker="second")
    run_at(app, runner2, "2025-12-10T09:01")
    assert rec2.sent == []  # still leased by the dead process
    run_at(app, runner2, "2025-12-10T09:03")
    assert len(rec.sent) + len(rec2.sent) == total
    run_at(app, runner2, "2025-12-10T09:30")
    runner3, rec3 = runner_for(app, worker="third")
    run_at(app, runner3, "2025-12-10T10:00")
    assert rec3.sent == []
    with app.sessions() as session:
        keys = session.scalars(select(OutboxMessage.dedupe_key)).all()
        assert len(keys) == len(set(keys))
        assert session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.status == "sent")) == total
    for task_id in ids:
        assert len(sent_rows(app, "deadline", task_id)) == 1


def test_crash_between_record_and_send_loses_nothing(december):
    app = december
    task_id = add_task(app, "cr", date(2025, 12, 15))
    runner, rec = runner_for(app)
    app.clock.set(parse_now("2025-12-10T09:00"))
    runner.tick()  # recorded, then the process dies before delivering
    runner2, rec2 = runner_for(app, worker="after-restart")
    report = asyncio.run(runner2.catch_up())
    assert len(sent_rows(app, "deadline", task_id)) == 1 and report.sent


def test_catch_up_after_downtime_sends_once_marked_late(december):
    app = december
    task_id = add_task(app, "cu", date(2025, 12, 12))  # T-3 Dec 9, T-1 Dec 11
    runner, rec = runner_for(app)
    run_at(app, runner, "2025-12-08T18:00")
    # down from Monday evening to Thursday 15:00: Tuesday's T-3 and Thursday's T-1 were missed
    run_at(app, runner, "2025-12-11T15:00")
    rows = sent_rows(app, "deadline", task_id)
    assert len(rows) == 1 and rows[0].late and rows[0].dedupe_key.endswith(":1:" + str(rows[0].person_id))
    assert _push_for(rec, "测试事项cu").text.startswith("(补发)")
    run_at(app, runner, "2025-12-11T15:01")
    assert len(sent_rows(app, "deadline", task_id)) == 1


def test_two_processes_race_on_one_database(app):
    """Two engines (two 'processes') tick and deliver at the same moment, in threads."""
    import threading

    from bot.composition import build_app

    app.clock.set(parse_now("2025-12-01T00:00"))
    for i in range(20):
        add_task(app, f"r{i}", date(2025, 12, 15), owner="王干部" if i % 2 else None)
    app.clock.set(parse_now("2025-12-10T09:00"))
    other = build_app(app.config, app.clock)
    shared = Recorder()
    lock = threading.Lock()

    class Locked(Recorder):
        async def send(self, chat_id, reply, max_wait=None):
            await asyncio.sleep(0.001)
            with lock:
                shared.sent.append((chat_id, reply))

    runners = [runner_for(a, Locked(), worker=f"p{n}")[0] for n, a in enumerate((app, other))]
    barrier = threading.Barrier(2)
    errors = []

    def work(runner):
        try:
            barrier.wait()
            for _ in range(3):
                runner.tick()
                asyncio.run(runner.deliver_all(limit=5))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    other.engine.dispose()
    assert errors == []
    with app.sessions() as session:
        rows = session.scalars(select(OutboxMessage)).all()
    assert rows and all(r.status == "sent" for r in rows)
    texts = [r.text for _, r in shared.sent]
    assert len(texts) == len(rows)  # each recorded push sent exactly once
    assert len([t for t in texts if "📌 测试事项r" in t]) == 20


# ---------------------------------------------------------------- the console demo and the CLI

def test_console_demo_prints_the_pushes_due(monkeypatch, capfd):
    import io
    import sys

    import run

    monkeypatch.setattr(sys, "stdin", io.StringIO("/remind\n"))
    assert run.main(["console", "--demo", "--now", "2025-12-26T08:30", "--as", "王干部"]) == 0
    out = capfd.readouterr().out
    head, _, rest = out.partition("下面开始对话")
    assert "[提醒 → 李组长]\n📋 项目一专班今日督办(12月26日)" in head
    assert "[提醒 → 周组长]" in head and "中德电力装备产业园" in head
    assert "09:00 还有 2 条" in head
    assert "> /remind" in rest and "提醒时间:09:00" in rest


def test_cli_dry_run_lists_what_would_be_sent(capsys):
    import run

    assert run.main(["remind", "--demo", "--now", "2025-12-31T09:00"]) == 0
    out = capsys.readouterr().out
    assert "将发送(演算,未记录)" in out
    assert "deadline   → 李组长 ⏰ 到期提醒:今天到期" in out
    assert "deadline   → 周组长 ⏰ 到期提醒:今天到期" in out


def test_scheduler_runs_tick_and_delivery_in_shanghai_time(december):
    """The APScheduler jobs do the same work: the first run at start-up is the catch-up."""
    from jobs.scheduler import build_scheduler

    app = december
    add_task(app, "sch", date(2025, 12, 15))
    app.clock.set(parse_now("2025-12-10T09:00"))
    rec = Recorder()
    router = NotifierRouter()
    router.register("console", rec)

    async def main():
        scheduler, runner = build_scheduler(app, router)
        assert str(scheduler.timezone) == "Asia/Shanghai"
        assert {job.id for job in scheduler.get_jobs()} == {"reminders-tick", "outbox-deliver", "housekeeping", "backup"}
        scheduler.start()
        try:
            for _ in range(200):
                if about(rec, "sch"):
                    break
                await asyncio.sleep(0.05)
                if not rec.sent:
                    await runner.deliver_async()
        finally:
            scheduler.shutdown(wait=False)

    asyncio.run(main())
    assert len(about(rec, "sch")) == 1


def test_demo_december_pushes_per_week(december):
    """The demo data as imported on Dec 1: what December brings, week by week (see docs)."""
    from collections import Counter

    app = december
    runner, rec = runner_for(app)
    for day in days("2025-12-01", "2025-12-31"):
        for moment in ("08:30", "09:00", "18:00"):
            run_at(app, runner, f"{day}T{moment}")
    weeks = Counter()
    kinds = Counter()
    for row in sent_rows(app):
        weeks[row.sent_at.isocalendar()[1]] += 1
        kinds[row.kind] += 1
    # Mondays: 2 briefs (张主任, 陈主任); from Dec 15 the fresh-on-Dec-1 tasks turn yellow
    # (14 days without a report), so the two team leads get a digest each working day;
    # Fridays Dec 12/19/26: 3 people with quiet tasks; Dec 26/30/31: T-3/T-1/T-0 for the
    # two 12-31 targets that have someone responsible (李组长 xm1, 周组长 zs1).
    assert dict(weeks) == {49: 2, 50: 5, 51: 15, 52: 17, 1: 12}
    assert dict(kinds) == {"brief": 10, "digest": 26, "stale": 9, "deadline": 6}
