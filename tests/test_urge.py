"""催办: a team lead or a leader presses the owner; counted, shown, pushed (after quiet hours)."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.clock import parse_now
from bot.models import AuditEntry, OutboxMessage, Person, Task, TaskEvent
from tests.conftest import Chat
from tests.test_reminders import runner_for


def natu(app) -> Task:
    with app.sessions() as session:
        return session.scalar(select(Task).where(Task.key == "natu_electric"))


def counts(app):
    with app.sessions() as session:
        task = session.scalar(select(Task).where(Task.key == "natu_electric"))
        return (task.urge_count, task.last_urged_at,
                session.scalar(select(func.count()).select_from(TaskEvent)),
                session.scalar(select(func.count()).select_from(OutboxMessage)),
                session.scalar(select(func.count()).select_from(AuditEntry)))


def test_team_lead_urges_the_owner(app, chat_as):
    li = chat_as("李组长")
    card = li.replies("纳图电气")
    assert [b.label for row in card[0].buttons for b in row] == ["报进展", "催办", "时间轴"]
    assert li.press("催办", card)[0].text == "📣 已催办:纳图电气\n已通知王干部(第1次催办)。"
    task = natu(app)
    assert (task.urge_count, task.last_urged_at.isoformat()) == (1, "2025-07-15T09:00:00+08:00")
    with app.sessions() as session:
        event = session.scalar(select(TaskEvent).where(TaskEvent.kind == "urge"))
        assert (session.get(Person, event.actor_id).name, event.data) == ("李组长", {"to": "王干部", "n": 1})
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "urge"))
        assert session.get(Person, row.person_id).name == "王干部"
        assert row.payload["text"] == "📣 催办(李组长,第1次)\n📌 纳图电气\n进度:未报\n请尽快办理并报进展。"
        assert row.payload["actions"] == ["update", f"task:{task.id}"]
        audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "urge"))
        assert audit.before == {"urge_count": 0, "last_urged_at": None} and audit.after["urge_count"] == 1
    assert "催办:1次,最近今天09:00" in li.say("纳图电气")


def test_once_a_day_then_again_with_words(app, chat_as):
    chen = chat_as("陈主任")
    assert chen.say("催办 纳图电气").startswith("📣 已催办")
    before = counts(app)
    app.clock.set(parse_now("2025-07-15T16:00"))
    assert chen.say("催办 纳图电气") == "“纳图电气”今天09:00已催办过,明天再催。"
    assert counts(app) == before
    app.clock.set(parse_now("2025-07-16T09:30"))
    assert chen.say("/urge 纳图电气 请今天报设备进场情况") == "📣 已催办:纳图电气\n已通知王干部(第2次催办)。"
    with app.sessions() as session:
        text = session.scalar(select(OutboxMessage.payload).where(OutboxMessage.dedupe_key == f"ug:{natu(app).id}:2"))["text"]
    assert text == "📣 催办(陈主任,第2次)\n📌 纳图电气\n进度:未报\n请今天报设备进场情况\n请尽快办理并报进展。"
    assert "催办:2次,最近今天09:30" in chen.say("纳图电气")


@pytest.mark.parametrize("who, text, reply", [
    ("王干部", "催办 纳图电气", "只有专班负责人或领导可以催办。"),
    ("周组长", "催办 纳图电气", "“纳图电气”不是你专班的事项,不能催办。"),
    ("李组长", "催办 月球基地", "没有找到事项“月球基地”"),
    ("李组长", "催办", "请写要催办的事项,例如:催办 纳图电气 请本周报进展"),
])
def test_bad_urges_change_nothing(app, who, text, reply):
    before = counts(app)
    assert Chat(app, who).say(text).startswith(reply)
    assert counts(app) == before


def test_no_owner_goes_to_the_team_lead_but_not_to_yourself(app, chat_as):
    with app.sessions.begin() as session:
        session.scalar(select(Task).where(Task.key == "natu_electric")).owner_id = None
    assert chat_as("张主任").say("催办 纳图电气") == "📣 已催办:纳图电气\n已通知李组长(第1次催办)。"
    app.clock.set(parse_now("2025-07-16T09:00"))
    assert chat_as("李组长").say("催办 纳图电气") == ("“纳图电气”还没有责任人,催办会发给你自己。请先指定责任人:"
                                                   "/set 纳图电气 责任人 姓名")


def test_a_done_task_is_not_urged(app, chat_as):
    chat_as("王干部").say("/update 纳图电气 100% 竣工")
    assert chat_as("李组长").say("通过 纳图电气").startswith("✅")  # 办结审核: the lead closes it
    before = counts(app)
    assert chat_as("李组长").say("催办 纳图电气") == "“纳图电气”已完成,不用催办。"
    assert counts(app) == before


def test_urge_inside_quiet_hours_arrives_after_them(app):
    wang = Chat(app, "王干部")
    runner, rec = runner_for(app)
    app.clock.set(parse_now("2025-07-15T22:30"))
    assert Chat(app, "李组长").say("催办 纳图电气").startswith("📣 已催办")
    asyncio.run(runner.deliver_all())
    assert [r.text for who, r in rec.sent if who == wang.person.name and "催办" in r.text] == []
    with app.sessions() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "urge"))
        assert row.next_attempt_at.isoformat() == "2025-07-16T07:30:00+08:00"
    app.clock.set(parse_now("2025-07-16T07:30"))
    asyncio.run(runner.deliver_all())
    [(who, reply)] = [(who, r) for who, r in rec.sent if "📣 催办" in r.text]
    assert who == "王干部" and reply.text.startswith("📣 催办(李组长,第1次)")
    assert [b.label for row in reply.buttons for b in row] == ["报进展", "看事项"]


def test_urge_from_a_red_list_row(app, chat_as):
    app.clock.set(parse_now("2026-01-05T10:00"))  # the second-half targets are overdue
    with app.sessions.begin() as session:
        wang = session.scalar(select(Person).where(Person.name == "王干部"))
        for task in session.scalars(select(Task).where(Task.team_id == wang.team_id)):
            task.owner_id = wang.id
    li = chat_as("李组长")
    listing = li.replies("/tasks overdue")
    rows = [[b.label for b in row] for row in listing[0].buttons]
    urgeable = [row for row in rows if row[-1] == "催办"]
    assert urgeable and all(len(row) == 2 for row in urgeable)
    with app.sessions() as session:
        own = {t.name[:12] for t in session.scalars(select(Task).where(Task.team.has(code="xm1")))}
    assert all(row[0][1:] in own for row in urgeable)  # only his own team's rows
    answer = li.press("催办", listing)[0].text
    assert answer.startswith("📣 已催办:") and "(第1次催办)" in answer
    # a cadre's list has no [催办]
    assert all(b.label != "催办" for row in chat_as("王干部").replies("/tasks overdue")[0].buttons for b in row)
