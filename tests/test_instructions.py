"""批示 and 反馈: recorded, pushed, on the card, in the lead's digest and the leaders' brief until answered."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.clock import parse_now
from bot.models import Instruction, OutboxMessage, Person, TaskEvent
from bot.services import digests, reports
from tests.conftest import Chat


def counts(app):
    with app.sessions() as session:
        return (session.scalar(select(func.count()).select_from(Instruction)),
                session.scalar(select(func.count()).select_from(Instruction).where(Instruction.answered_at.is_not(None))),
                session.scalar(select(func.count()).select_from(TaskEvent)),
                session.scalar(select(func.count()).select_from(OutboxMessage)))


def pushes(app, kind):
    with app.sessions() as session:
        return [(session.get(Person, row.person_id).name, row.payload["text"], row.payload["actions"])
                for row in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                           .order_by(OutboxMessage.id))]


def test_instruction_then_feedback(app, chat_as):
    chen = chat_as("陈主任")  # a leader without a team and without admin
    assert chen.say("批示 纳图电气 抓紧推进二期用地报批") == ("✅ 批示已记录:纳图电气\n"
                                                       "已推送给王干部、李组长,反馈后会告诉你。")
    with app.sessions() as session:
        row = session.scalar(select(Instruction))
        assert (row.text, session.get(Person, row.leader_id).name, row.answered_at) == ("抓紧推进二期用地报批", "陈主任", None)
        task_id = row.task_id
    text = "📝 领导批示(陈主任)\n📌 纳图电气\n抓紧推进二期用地报批\n办理后请点“反馈”,或回复“反馈 纳图电气 内容”。"
    assert pushes(app, "instruction") == [
        ("王干部", text, [f"feedback:{task_id}", f"task:{task_id}"]),
        ("李组长", text, [f"feedback:{task_id}", f"task:{task_id}"])]
    wang = chat_as("王干部")
    card = wang.replies("纳图电气")
    assert "📝 批示(陈主任 今天09:00):抓紧推进二期用地报批(待反馈)" in card[0].text
    app.clock.set(parse_now("2025-07-16T15:00"))
    asked = wang.press("反馈", card)
    assert asked[0].text == "反馈:📌 纳图电气\n批示:抓紧推进二期用地报批\n请写办理情况。(发“取消”退出)"
    assert wang.say("已与自然资源分局对接,材料下周报送") == ("✅ 已反馈:纳图电气\n批示:抓紧推进二期用地报批\n"
                                                     "已告诉陈主任。")
    with app.sessions() as session:
        row = session.scalar(select(Instruction))
        assert (row.answer, session.get(Person, row.answered_by_id).name) == ("已与自然资源分局对接,材料下周报送", "王干部")
        assert row.answered_at.isoformat() == "2025-07-16T15:00:00+08:00"
        kinds = list(session.scalars(select(TaskEvent.kind).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)))
        assert kinds == ["instruct", "feedback"]
    assert pushes(app, "feedback") == [("陈主任", "📨 批示反馈(王干部)\n📌 纳图电气\n批示:抓紧推进二期用地报批\n"
                                                "反馈:已与自然资源分局对接,材料下周报送", [f"task:{task_id}"])]
    assert "📝 批示" not in wang.say("纳图电气")


def test_one_line_feedback_answers_the_oldest_open_one(app, chat_as):
    zhang = chat_as("张主任")
    zhang.say("批示 纳图电气 第一条")
    app.clock.set(parse_now("2025-07-15T10:00"))
    zhang.say("/instruct 纳图电气 第二条")
    card = zhang.say("纳图电气")
    assert "📝 批示(张主任 今天10:00):第二条(待反馈,共2条)" in card
    assert chat_as("王干部").say("/feedback 纳图电气 已办第一条") == "✅ 已反馈:纳图电气\n批示:第一条\n已告诉张主任。"
    assert "📝 批示(张主任 今天10:00):第二条(待反馈)" in zhang.say("纳图电气")


def test_instruction_dialogue_from_the_card_button(app, chat_as):
    chen = chat_as("陈主任")
    card = chen.replies("纳图电气")
    assert [b.label for row in card[0].buttons for b in row] == ["催办", "批示", "时间轴"]
    assert chen.press("批示", card)[0].text == "批示:📌 纳图电气\n请写批示内容。(发“取消”退出)"
    assert chen.say("本月底前完成设备进场").startswith("✅ 批示已记录:纳图电气")
    assert counts(app)[0] == 1


def test_an_update_does_not_answer_the_instruction_but_reminds(app, chat_as):
    chat_as("陈主任").say("批示 纳图电气 抓紧推进")
    answer = chat_as("王干部").say("/update 纳图电气 40% 设备进场")
    assert answer.endswith("📝 还有1条批示待反馈:抓紧推进\n办理后请发:反馈 纳图电气 内容")
    assert counts(app)[1] == 0


@pytest.mark.parametrize("who, text, reply", [
    ("王干部", "批示 纳图电气 抓紧", "只有街道领导可以批示。"),
    ("李组长", "/instruct 纳图电气 抓紧", "只有街道领导可以批示。"),
    ("陈主任", "批示 月球基地 抓紧", "没有找到事项“月球基地”"),
    ("陈主任", "批示", "请写事项和批示内容,例如:批示 纳图电气 抓紧推进二期"),
    ("陈主任", "批示 纳图电气 " + "长" * 600, "批示太长(600字),请控制在500字以内。"),
    ("王干部", "反馈 纳图电气 已办", "“纳图电气”没有待反馈的批示。报进展请发:报进展"),
    ("陈主任", "反馈 纳图电气 已办", "领导账号只能查看。报进展请由责任专班填写。"),
])
def test_bad_instructions_change_nothing(app, who, text, reply):
    before = counts(app)
    assert Chat(app, who).say(text).startswith(reply)
    assert counts(app) == before


def test_feedback_only_from_the_team(app, chat_as):
    chat_as("陈主任").say("批示 纳图电气 抓紧推进")
    before = counts(app)
    assert chat_as("赵干部").say("反馈 纳图电气 已办") == "“纳图电气”不属于你的专班,不能反馈。"
    assert counts(app) == before


def test_open_instruction_in_the_digest_and_the_brief_until_answered(app, chat_as):
    chat_as("陈主任").say("批示 纳图电气 抓紧推进二期")
    chat_as("王干部").say("/update 中德电力装备产业园 30% 完成规划 问题:用地指标未落实 下步:报区里协调")
    now = app.clock.now()
    with app.sessions() as session:
        team = session.scalar(select(Person).where(Person.name == "李组长")).team_id
        digest = digests.digest_text(session, now, team)
        brief = reports.weekly_brief(session, now, app.config).as_text()
    assert "📝 待反馈批示1条:\n· 纳图电气:抓紧推进二期(7月15日)" in digest
    assert "⚠️ 存在问题 / 下步计划:\n· 中德电力装备产业园 问题:用地指标未落实 下步:报区里协调" in digest
    assert "【待反馈批示(1)】\n- 07-15 纳图电气(项目一专班):陈主任批示“抓紧推进二期”" in brief
    chat_as("王干部").say("反馈 纳图电气 已推进")
    with app.sessions() as session:
        digest = digests.digest_text(session, now, team)
        brief = reports.weekly_brief(session, now, app.config).as_text()
    assert "待反馈批示" not in digest and "待反馈批示" not in brief


def test_a_colon_after_the_task_name(app, chat_as):
    assert chat_as("张主任").say("批示 纳图电气:本月底前完成主体封顶").startswith("✅ 批示已记录:纳图电气")
    with app.sessions() as session:
        assert session.scalar(select(Instruction.text)) == "本月底前完成主体封顶"
