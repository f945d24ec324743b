"""Completing the 台账 in chat: /set (责任人, 专班, 时间节点, 来源) and /node, audited, with 原时限."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.clock import parse_now
from bot.models import AuditEntry, Milestone, Person, Task, TaskEvent
from tests.conftest import Chat

NAME = "老旧小区改造"


@pytest.fixture
def assigned(app):
    zhang = Chat(app, "张主任")
    zhang.say(f"/assign {NAME} 项目一专班 王干部 2025-12-31 会议 节点:开工@2025-09-01")
    assert zhang.say("确定").startswith("✅ 已交办")
    return app


def task_of(app, name=NAME) -> Task:
    with app.sessions() as session:
        return session.scalar(select(Task).where(Task.name == name))


def state(app, name=NAME):
    with app.sessions() as session:
        task = session.scalar(select(Task).where(Task.name == name))
        nodes = [(m.name, m.due, m.done_at is not None) for m in session.scalars(
            select(Milestone).where(Milestone.task_id == task.id).order_by(Milestone.sort_order))]
        return (task.owner_id, task.team_id, task.deadline, task.original_deadline, task.origin, nodes,
                session.scalar(select(func.count()).select_from(TaskEvent)),
                session.scalar(select(func.count()).select_from(AuditEntry)))


def last_event(app):
    with app.sessions() as session:
        event = session.scalar(select(TaskEvent).order_by(TaskEvent.id.desc()).limit(1))
        return event.kind, event.text, event.data, session.get(Person, event.actor_id).name


def last_audit(app):
    with app.sessions() as session:
        entry = session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
        return entry.action, entry.before, entry.after, session.get(Person, entry.actor_id).name


def test_deadline_moves_and_keeps_the_original(assigned, chat_as):
    app = assigned
    li = chat_as("李组长")
    assert li.say(f"/set {NAME} 截止 2026-01-31") == f"✅ 已修改“{NAME}”\n时间节点:2025-12-31 → 2026-01-31"
    assert last_event(app) == ("edit", "时间节点:2025-12-31 → 2026-01-31",
                               {"field": "deadline", "old": "2025-12-31", "new": "2026-01-31"}, "李组长")
    assert last_audit(app) == ("edit", {"deadline": "2025-12-31"}, {"deadline": "2026-01-31"}, "李组长")
    assert "时间节点:2026-01-31(原时限2025-12-31)" in li.say(NAME)
    # a second move keeps the first 原时限
    assert li.say(f"修改 {NAME} 时间节点 2026-02-28").endswith("时间节点:2026-01-31 → 2026-02-28")
    task = task_of(app)
    assert (task.deadline.isoformat(), task.original_deadline.isoformat()) == ("2026-02-28", "2025-12-31")
    assert "时间节点:2026-02-28(原时限2025-12-31)" in li.say(NAME)


def test_owner_team_and_origin(assigned, chat_as):
    app = assigned
    li = chat_as("李组长")
    assert li.say(f"/set {NAME} 责任人 李组长") == f"✅ 已修改“{NAME}”\n责任人:王干部 → 李组长"
    assert last_audit(app) == ("edit", {"owner": "王干部"}, {"owner": "李组长"}, "李组长")
    assert li.say(f"/set {NAME} 责任人 无") == f"✅ 已修改“{NAME}”\n责任人:李组长 → 未指定"
    assert li.say(f"/set {NAME} 来源 批示") == f"✅ 已修改“{NAME}”\n来源:会议 → 批示"
    assert chat_as("张主任").say(f"/set {NAME} 责任人 王干部").endswith("责任人:未指定 → 王干部")
    # moving to another team: the owner is not in it, so the card says it plainly
    assert li.say(f"/set {NAME} 专班 招商一专班") == (f"✅ 已修改“{NAME}”\n专班:项目一专班 → 招商一专班\n"
                                                  "原责任人王干部不在招商一专班,责任人改为未指定。")
    task = task_of(app)
    assert task.owner_id is None
    with app.sessions() as session:
        assert session.get(Task, task.id).team.code == "zs1"
    # 李组长 no longer leads the task's team
    assert li.say(f"/set {NAME} 来源 会议") == f"“{NAME}”不是你专班的事项,不能修改。"
    assert chat_as("周组长").say(f"/set {NAME} 责任人 赵干部").endswith("责任人:未指定 → 赵干部")


def test_nodes_add_rename_date_done(assigned, chat_as):
    app = assigned
    li = chat_as("李组长")
    assert li.say(f"/node {NAME} add 封顶 2025-11-30") == f"✅ 已修改“{NAME}”\n新增节点“封顶”(2025-11-30)"
    assert li.say(f"节点 {NAME} 改名 开工 正式开工") == f"✅ 已修改“{NAME}”\n节点改名:“开工” → “正式开工”"
    assert li.say(f"/node {NAME} date 正式开工 2025-09-15") == \
        f"✅ 已修改“{NAME}”\n节点“正式开工”日期:2025-09-01 → 2025-09-15"
    app.clock.set(parse_now("2025-09-16T10:00"))
    assert li.say(f"/node {NAME} done 正式开工") == f"✅ 已修改“{NAME}”\n节点“正式开工”已完成"
    nodes = state(app)[5]
    assert [(n, d.isoformat(), done) for n, d, done in nodes] == [("正式开工", "2025-09-15", True),
                                                                  ("封顶", "2025-11-30", False)]
    assert last_event(app)[:2] == ("node", "节点“正式开工”已完成")
    assert last_audit(app)[0] == "node_done"
    assert "节点:✔正式开工 ○封顶(11-30)" in li.say(NAME)


@pytest.mark.parametrize("who, text, reply", [
    ("李组长", f"/node {NAME} add 验收 2026-01-10",
     "节点日期 2026-01-10 晚于事项的时间节点 2025-12-31,不能这样设。如确需调整,请先改时间节点。"),
    ("李组长", f"/node {NAME} date 开工 2026-02-01",
     "节点日期 2026-02-01 晚于事项的时间节点 2025-12-31,不能这样设。如确需调整,请先改时间节点。"),
    ("李组长", f"/set {NAME} 截止 2025-08-31", "节点“开工”的日期 2025-09-01 晚于新的时间节点 2025-08-31。请先改节点日期。"),
    ("李组长", f"/set {NAME} 截止 2025-07-01", "时间节点 2025-07-01 已经过去了,请写今天或以后的日期。"),
    ("李组长", f"/set {NAME} 截止 改天",
     "看不懂这个日期:改天。可以写 2025-12-31、12月31日、12.31 或 下周五\n时间节点请写日期,例如 2026-03-31、3月底、下周五。"),
    ("李组长", f"/set {NAME} 截止 2025-12-31", "时间节点已经是2025-12-31,没有改动。"),
    ("李组长", f"/set {NAME} 责任人 赵干部", "赵干部不是项目一专班的人员,不能做责任人。"),
    ("李组长", f"/set {NAME} 责任人 王某某", "没有找到人员“王某某”。请写系统里已有的姓名。"),
    ("李组长", f"/set {NAME} 专班 项目九专班", "没有专班“项目九专班”。可选:"),
    ("李组长", f"/set {NAME} 来源 微信", "来源“微信”不认识,可写:会议、批示、上级交办、报告。"),
    ("李组长", f"/set {NAME} 颜色 红", "请写:/set 事项 责任人 王干部"),
    ("李组长", f"/node {NAME} done 验收", f"“{NAME}”没有节点“验收”。已有节点:开工"),
    ("李组长", f"/node {NAME} add 开工 2025-10-01", "已有节点“开工”。"),
    ("周组长", f"/set {NAME} 截止 2026-01-31", f"“{NAME}”不是你专班的事项,不能修改。"),
    ("王干部", f"/set {NAME} 截止 2026-01-31", "只有专班负责人或管理员可以修改台账。"),
    ("陈主任", f"/node {NAME} add 验收 2025-12-01", "只有专班负责人或管理员可以修改台账。"),
])
def test_bad_edits_change_nothing(assigned, who, text, reply):
    app = assigned
    before = state(app)
    assert Chat(app, who).say(text).startswith(reply)
    assert state(app) == before


def test_a_closed_task_is_not_edited(assigned, chat_as):
    app = assigned
    assert "待审核" in chat_as("王干部").say(f"/update {NAME} 100% 完工")
    assert chat_as("李组长").say(f"通过 {NAME}").startswith("✅")
    before = state(app)
    assert chat_as("李组长").say(f"/set {NAME} 截止 2026-01-31") == f"“{NAME}”已销号,不能再修改。"
    assert chat_as("张主任").say(f"/node {NAME} add 验收 2025-12-01") == f"“{NAME}”已销号,不能再修改。"
    assert state(app) == before


def test_an_approved_review_also_closes_it(assigned, chat_as):
    app = assigned
    with app.sessions.begin() as session:
        session.scalar(select(Task).where(Task.name == NAME)).review_status = "approved"
    assert chat_as("李组长").say(f"/set {NAME} 责任人 李组长") == f"“{NAME}”已销号,不能再修改。"


def test_imported_task_owner_and_deadline(app, chat_as):
    """The report's tasks lack 时间节点 and 责任人: a team lead completes them in chat."""
    li = chat_as("李组长")
    assert li.say("/set 纳图电气 截止 2025-12-31") == "✅ 已修改“纳图电气”\n时间节点:未指定 → 2025-12-31"
    task = task_of(app, "纳图电气")
    assert (task.deadline.isoformat(), task.original_deadline) == ("2025-12-31", None)
    card = li.say("纳图电气")
    assert "时间节点:2025-12-31\n" in card and "原时限" not in card
