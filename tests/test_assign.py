"""立项/交办 in chat (one line and guided), 签收, the unsigned reminder, and 分解交办."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from bot.clock import parse_now
from bot.config import PROJECT_ROOT
from bot.models import (
    AuditEntry,
    Conversation,
    Milestone,
    OutboxMessage,
    Person,
    Task,
    TaskEvent,
    Team,
)
from tests.conftest import Chat
from tests.test_reminders import runner_for

LINE = "/assign 老旧小区改造 项目一专班 王干部 2025-12-31 会议 节点:开工@2025-09-01"
SUMMARY = ("请确认交办:\n📌 老旧小区改造\n牵头专班:项目一专班  责任人:王干部\n时间节点:2025-12-31\n来源:会议\n"
           "节点:○开工(09-01)\n回复“确定”交办,“取消”放弃。")


def task_named(app, name):
    with app.sessions() as session:
        return session.scalar(select(Task).where(Task.name == name))


def counts(app):
    with app.sessions() as session:
        return (session.scalar(select(func.count()).select_from(Task)),
                session.scalar(select(func.count()).select_from(TaskEvent)),
                session.scalar(select(func.count()).select_from(OutboxMessage)),
                session.scalar(select(func.count()).select_from(AuditEntry)))


def assign(app, line=LINE, who="张主任"):
    chat = Chat(app, who)
    assert chat.say(line).startswith("请确认交办:")
    return chat.say("确定")


def test_one_line_assign_confirms_then_creates_and_pushes(app, chat_as):
    zhang = chat_as("张主任")
    before = counts(app)
    assert zhang.say(LINE) == SUMMARY
    assert counts(app) == before  # nothing written before 确定
    assert zhang.say("确定") == "✅ 已交办:老旧小区改造\n已通知王干部、李组长签收。"
    task = task_named(app, "老旧小区改造")
    with app.sessions() as session:
        task = session.scalar(select(Task).where(Task.name == "老旧小区改造"))
        assert (task.team.code, task.owner.name, task.deadline.isoformat(), task.origin, task.category) == \
            ("xm1", "王干部", "2025-12-31", "会议", "交办事项")
        assert session.get(Person, task.assigned_by_id).name == "张主任"
        assert task.assigned_at.isoformat() == "2025-07-15T09:00:00+08:00"
        assert task.signed_at is None and task.status == "active"
        assert [(m.name, m.due.isoformat()) for m in session.scalars(
            select(Milestone).where(Milestone.task_id == task.id))] == [("开工", "2025-09-01")]
        event = session.scalar(select(TaskEvent).where(TaskEvent.task_id == task.id))
        assert (event.kind, event.text) == ("assign", "项目一专班·王干部,截止2025-12-31,来源:会议")
        audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "assign"))
        assert audit.before is None and audit.after["deadline"] == "2025-12-31"
        pushes = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "assign")
                                 .order_by(OutboxMessage.id)).all()
        assert [session.get(Person, p.person_id).name for p in pushes] == ["王干部", "李组长"]
        assert pushes[0].payload["actions"] == [f"sign:{task.id}", f"task:{task.id}"]
        assert pushes[0].payload["text"].startswith("📥 新交办(张主任)\n📌 老旧小区改造\n专班:项目一专班  责任人:王干部")
    # anyone can find it by name at once
    card = chat_as("王干部").say("老旧小区改造")
    assert "来源:会议  交办:张主任今天09:00  签收:待签收" in card


def test_confirm_and_cancel_buttons(app, chat_as):
    zhang = chat_as("张主任")
    replies = zhang.replies(LINE)
    assert zhang.press("取消", replies)[0].text == "已取消,什么也没交办。"
    assert task_named(app, "老旧小区改造") is None
    replies = zhang.replies(LINE)
    assert zhang.press("确定交办", replies)[0].text.startswith("✅ 已交办:老旧小区改造")
    assert task_named(app, "老旧小区改造") is not None
    # an old confirmation button does nothing any more
    assert zhang.press("确定交办", replies)[0].text == "按钮已过期,请重新发“交办”。"
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Task).where(Task.name == "老旧小区改造")) == 1


def test_guided_assign_with_the_steps_table(app, chat_as):
    zhang = chat_as("张主任")
    assert zhang.say("交办") == "交办新事项。事项名称是?(发“取消”退出)"
    assert zhang.say("背街小巷整治") == "牵头专班是?例如:项目二专班"
    assert zhang.say("项目九") == ("没有专班“项目九”。可选:" + "、".join(_team_names(app))
                                 + "\n请重新发,或发“取消”退出。")
    assert zhang.say("项目一") == "责任人是?写本专班人员的姓名;不指定发“跳过”(由专班负责人签收)"
    assert zhang.say("赵干部") == "赵干部不是项目一专班的人员,不能做责任人。\n请重新发,或发“取消”退出。"
    assert zhang.say("跳过") == "时间节点是?例如:2026-03-31、3月底、下周五"
    assert zhang.say("2025-07-01") == ("时间节点 2025-07-01 已经过去了,请写今天或以后的日期。"
                                      "\n请重新发,或发“取消”退出。")
    assert zhang.say("月底").startswith("有节点吗?")
    assert zhang.say("摸排@2025-08-15") == ("节点“摸排”的日期 2025-08-15 晚于时间节点 2025-07-31。"
                                         "\n请重新发,或发“取消”退出。")
    replies = zhang.replies("摸排@7月20日")
    assert replies[0].text == "来源是?会议、批示、上级交办、报告;不写发“跳过”"
    confirm = zhang.press("上级交办", replies)
    assert confirm[0].text == ("请确认交办:\n📌 背街小巷整治\n牵头专班:项目一专班  责任人:未指定\n时间节点:2025-07-31\n"
                               "来源:上级交办\n节点:○摸排(07-20)\n回复“确定”交办,“取消”放弃。")
    assert zhang.say("确定") == "✅ 已交办:背街小巷整治\n已通知李组长签收。"
    task = task_named(app, "背街小巷整治")
    assert (task.owner_id, task.origin, task.deadline.isoformat()) == (None, "上级交办", "2025-07-31")


def test_guided_assign_on_a_channel_without_buttons(app):
    zhang = Chat(app, "张主任")
    for text in ("交办", "背街小巷整治", "项目一专班", "王干部", "2025-12-31"):
        zhang.replies(text, buttons_supported=False)
    origin = zhang.replies("跳过", buttons_supported=False)[0].text
    assert origin == ("来源是?会议、批示、上级交办、报告;不写发“跳过”\n回复数字选择:\n"
                      "1. 会议\n2. 批示\n3. 上级交办\n4. 报告")
    answer = zhang.replies("2", buttons_supported=False)[0].text
    assert "来源:批示" in answer and answer.endswith("回复数字选择:\n1. 确定交办\n2. 取消")
    assert zhang.replies("1", buttons_supported=False)[0].text.startswith("✅ 已交办:背街小巷整治")


def _team_names(app):
    with app.sessions() as session:
        return list(session.scalars(select(Team.name).order_by(Team.id)))


@pytest.mark.parametrize("who, line, reply", [
    ("张主任", "/assign 老旧小区改造 项目九专班 2025-12-31", "没有专班“项目九专班”。"),
    ("张主任", "/assign 老旧小区改造 项目一专班 王某某 2025-12-31",
     "看不懂“王某某”:没有这个专班或人员,也不是日期或来源(会议/批示/上级交办/报告)。"),
    ("张主任", "/assign 老旧小区改造 项目一专班 赵干部 2025-12-31",
     "赵干部不是项目一专班的人员,不能做责任人。请写本专班的人员,或不写责任人(由专班负责人签收)。"),
    ("张主任", "/assign 老旧小区改造 项目一专班 2025-07-14", "时间节点 2025-07-14 已经过去了,请写今天或以后的日期。"),
    ("张主任", "/assign 老旧小区改造 项目一专班 截止:过几天",
     "看不懂这个日期:过几天。可以写 2025-12-31、12月31日、12.31 或 下周五\n时间节点请写日期,例如 2026-03-31、3月底、下周五。"),
    ("张主任", "/assign 老旧小区改造 项目一专班 王干部", "请写时间节点,例如 2026-03-31、3月底、下周五。"),
    ("张主任", "/assign 老旧小区改造 王干部 2025-12-31", "请写牵头专班,例如:项目二专班。"),
    ("张主任", "/assign 纳图电气 项目一专班 2025-12-31", "已有同名事项“纳图电气”。请换个名称,或直接打开它:/task 纳图电气"),
    ("张主任", "/assign 老旧小区改造 项目一专班 2025-12-31 节点:开工@2026-01-05",
     "节点“开工”的日期 2026-01-05 晚于时间节点 2025-12-31。"),
    ("张主任", "/assign 老旧小区改造 项目一专班 2025-12-31 来源:微信", "来源“微信”不认识,可写:会议、批示、上级交办、报告。"),
    ("王干部", "/assign 老旧小区改造 项目一专班 2025-12-31", "只有街道领导或管理员可以交办事项。"),
    ("李组长", "交办 老旧小区改造 项目一专班 2025-12-31", "只有街道领导或管理员可以交办事项。"),
])
def test_bad_assign_changes_nothing(app, who, line, reply):
    before = counts(app)
    chat = Chat(app, who)
    assert chat.say(line) == reply
    assert counts(app) == before
    with app.sessions() as session:
        assert session.scalar(select(Conversation).where(Conversation.flow == "assign")) is None


def test_a_leader_without_admin_may_assign(app, chat_as):
    chen = chat_as("陈主任")
    assert chen.say("交办 河道保洁 项目一专班 2025-10-31 批示").startswith("请确认交办:")
    assert chen.say("确定").startswith("✅ 已交办:河道保洁")


# ---------------------------------------------------------------- 签收

def test_sign_by_button_and_twice(app, chat_as):
    assign(app)
    wang = chat_as("王干部")
    card = wang.replies("老旧小区改造")
    assert [b.label for row in card[0].buttons for b in row] == ["签收", "报进展", "时间轴"]
    app.clock.set(parse_now("2025-07-15T10:30"))
    signed = wang.press("签收", card)
    assert signed[0].text == "✅ 已签收:老旧小区改造\n时间节点:2025-12-31。办理中请及时报进展。"
    task = task_named(app, "老旧小区改造")
    with app.sessions() as session:
        assert session.get(Person, task.signed_by_id).name == "王干部"
        assert task.signed_at.isoformat() == "2025-07-15T10:30:00+08:00"
        assert session.scalar(select(TaskEvent.kind).where(TaskEvent.task_id == task.id)
                              .order_by(TaskEvent.id.desc()).limit(1)) == "sign"
        told = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "signed"))
        assert session.get(Person, told.person_id).name == "张主任"
        assert told.payload["text"] == "✅ 王干部已签收:老旧小区改造"
    assert "签收:王干部今天10:30" in wang.say("老旧小区改造")
    before = counts(app)
    assert chat_as("李组长").say("签收 老旧小区改造") == "“老旧小区改造”已由王干部于07-15 10:30签收,不用再签。"
    assert wang.say("/sign 老旧小区改造") == "“老旧小区改造”已由王干部于07-15 10:30签收,不用再签。"
    assert counts(app) == before


@pytest.mark.parametrize("who, text, reply", [
    ("赵干部", "签收 老旧小区改造", "“老旧小区改造”不是交办给你的,只有责任人或本专班负责人可以签收。"),
    ("周组长", "签收 老旧小区改造", "“老旧小区改造”不是交办给你的,只有责任人或本专班负责人可以签收。"),
    ("陈主任", "签收 老旧小区改造", "领导账号只能查看。报进展请由责任专班填写。"),
    ("王干部", "签收 纳图电气", "“纳图电气”不是交办事项,不需要签收。"),
    ("王干部", "签收", "请写要签收的事项,例如:签收 老旧小区改造"),
])
def test_signing_what_is_not_yours(app, who, text, reply):
    assign(app)
    before = counts(app)
    assert Chat(app, who).say(text) == reply
    assert counts(app) == before
    assert task_named(app, "老旧小区改造").signed_at is None


def test_team_lead_signs_when_there_is_no_owner(app, chat_as):
    assign(app, "/assign 河道保洁 项目一专班 2025-10-31")
    assert chat_as("李组长").say("签收 河道保洁").startswith("✅ 已签收:河道保洁")


def test_not_signed_within_one_working_day_tells_the_assigner_and_the_lead(app):
    for name in ("张主任", "李组长", "王干部"):
        Chat(app, name)  # bound on the console, where pushes go
    assign(app)  # Tuesday 2025-07-15 09:00
    assign(app, "/assign 河道保洁 项目一专班 王干部 2025-10-31")
    assert Chat(app, "王干部").say("签收 河道保洁").startswith("✅ 已签收")
    runner, rec = runner_for(app)

    def unsigned():
        return [(who, r.text) for who, r in rec.sent if r.text.startswith("⏳ 未签收")]

    app.clock.set(parse_now("2025-07-16T08:59"))
    runner.tick()
    asyncio.run(runner.deliver_all())
    assert unsigned() == []
    for moment in ("2025-07-16T09:00", "2025-07-16T15:00"):  # the second tick adds nothing
        app.clock.set(parse_now(moment))
        runner.tick()
        asyncio.run(runner.deliver_all())
    text = ("⏳ 未签收:交办超过1个工作日还没有签收\n📌 老旧小区改造(项目一专班)\n责任人:王干部\n交办:7月15日 09:00\n请督促签收。")
    assert unsigned() == [("张主任", text), ("李组长", text)]


def test_unsigned_over_a_weekend_waits_for_the_next_working_day(app):
    app.clock.set(parse_now("2025-07-18T16:00"))  # a Friday
    assign(app)
    runner, rec = runner_for(app)
    app.clock.set(parse_now("2025-07-19T17:00"))
    assert [d for d in runner.tick() if d.kind == "unsigned"] == []
    app.clock.set(parse_now("2025-07-21T16:00"))  # Monday
    assert sorted(d.dedupe_key.split(":")[0] for d in runner.tick() if d.kind == "unsigned") == ["us", "us"]


# ---------------------------------------------------------------- 分解交办

def test_split_into_sub_tasks_and_the_parent_roll_up(app, chat_as):
    assign(app)
    zhang = chat_as("张主任")
    answer = zhang.say("/split 老旧小区改造 项目一专班:2025-10-31:王干部 招商一专班:2025-09-30")
    assert answer == ("请确认分解“老旧小区改造”为2项:\n"
                      "📌 老旧小区改造(项目一专班)\n牵头专班:项目一专班  责任人:王干部\n时间节点:2025-10-31\n来源:会议\n"
                      "📌 老旧小区改造(招商一专班)\n牵头专班:招商一专班  责任人:未指定\n时间节点:2025-09-30\n来源:会议\n"
                      "回复“确定”交办,“取消”放弃。")
    assert zhang.say("确定") == ("✅ 已分解“老旧小区改造”为2项:\n· 老旧小区改造(项目一专班) 截止2025-10-31\n"
                               "· 老旧小区改造(招商一专班) 截止2025-09-30\n已通知各专班负责人和责任人签收。")
    parent = task_named(app, "老旧小区改造")
    with app.sessions() as session:
        children = session.scalars(select(Task).where(Task.parent_id == parent.id).order_by(Task.id)).all()
        assert [(c.team.code, c.owner.name if c.owner else None) for c in children] == [("xm1", "王干部"), ("zs1", None)]
        pushed = {session.get(Person, p).name for p in session.scalars(
            select(OutboxMessage.person_id).where(OutboxMessage.kind == "assign",
                                                  OutboxMessage.task_id.in_([c.id for c in children])))}
        assert pushed == {"王干部", "李组长", "周组长"}
    assert "分解:2项 ⚪2 平均进度0%" in zhang.say("老旧小区改造")
    assert chat_as("王干部").say("/update 老旧小区改造(项目一专班) 50% 已开工").startswith("✅ 已记录")
    card = zhang.say("老旧小区改造")
    assert "分解:2项 🟢1 ⚪1 平均进度25%" in card
    assert "上级事项:老旧小区改造" in zhang.say("/task 老旧小区改造(招商一专班)")


@pytest.mark.parametrize("text, reply", [
    ("/split 老旧小区改造 项目一专班:2026-01-31", "分解事项的日期 2026-01-31 晚于上级事项的时间节点 2025-12-31。"),
    ("/split 老旧小区改造 项目九专班:2025-10-31", "没有专班“项目九专班”。可选:"),
    ("/split 老旧小区改造 项目一专班:2025-10-31:赵干部",
     "赵干部不是项目一专班的人员,不能做责任人。请写本专班的人员,或不写责任人(由专班负责人签收)。"),
    ("/split 老旧小区改造", "请写:/split 事项 专班:日期[:责任人] ..."),
])
def test_bad_split_changes_nothing(app, text, reply):
    assign(app)
    before = counts(app)
    assert Chat(app, "张主任").say(text).startswith(reply)
    assert counts(app) == before


# ---------------------------------------------------------------- end to end on the console

def test_console_assign_then_sign(tmp_path):
    """Two console processes on one real database: the leader 交办, the cadre 签收."""
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: sqlite:///{tmp_path / 'duban.sqlite3'}\n"
                      f"data:\n  out_dir: {tmp_path / 'out'}\n", encoding="utf-8")

    def run(*args, stdin=""):
        result = subprocess.run([sys.executable, "run.py", "--config", str(config), *args], input=stdin,
                                capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    run("import", "data/diaozhuang-2025.yaml", "data/demo-people.yaml")
    now = ("--now", "2025-07-15T09:00")
    out = run("console", "--as", "张主任", *now,
              stdin="交办 老旧小区改造 项目一专班 王干部 2025-12-31 会议\n确定\n")
    assert "> 确定\n✅ 已交办:老旧小区改造\n已通知王干部、李组长签收。" in out
    out = run("console", "--as", "王干部", *now, stdin="签收 老旧小区改造\n签收 老旧小区改造\n老旧小区改造\n")
    assert "> 签收 老旧小区改造\n✅ 已签收:老旧小区改造" in out
    assert "“老旧小区改造”已由王干部于07-15 09:00签收,不用再签。" in out
    assert "签收:王干部今天09:00" in out


def test_commas_separate_the_parts(app, chat_as):
    zhang = chat_as("张主任")
    assert zhang.say("交办 暑期学生安全宣传,招商一专班,赵干部,2025-07-31") == (
        "请确认交办:\n📌 暑期学生安全宣传\n牵头专班:招商一专班  责任人:赵干部\n时间节点:2025-07-31\n"
        "回复“确定”交办,“取消”放弃。")
