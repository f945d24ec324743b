"""延期 up the chain: the team lead first; a second extension, a long one, or one on a year-end
target also needs the 分管领导. The card shows 原时限, 延期次数 and each decision."""
from datetime import date

from sqlalchemy import select

from bot.clock import parse_now
from bot.models import ExtensionRequest, OutboxMessage, Person, Task, TaskEvent
from bot.services.lights import refresh_light_dates


def set_task(app, key, **values):
    with app.sessions.begin() as session:
        task = session.scalar(select(Task).where(Task.key == key))
        for name, value in values.items():
            setattr(task, name, value)
        refresh_light_dates(task, app.config.lights)


def ask(chat, task: str, day: str, reason: str) -> int:
    chat.say(f"/extend {task}")
    chat.say(day)
    done = chat.say(reason)
    assert done.startswith("✅ 延期申请已提交"), done
    return int(done.split("编号")[1].split(")")[0])


def request_row(app, request_id) -> ExtensionRequest:
    with app.sessions() as session:
        return session.get(ExtensionRequest, request_id)


def task_row(app, key) -> Task:
    with app.sessions() as session:
        return session.scalar(select(Task).where(Task.key == key))


def pushed_to(app, prefix) -> list[str]:
    with app.sessions() as session:
        rows = session.execute(select(OutboxMessage, Person).join(Person, Person.id == OutboxMessage.person_id)
                               .where(OutboxMessage.kind == "extension").order_by(OutboxMessage.id)).all()
        return [person.name for row, person in rows if row.payload["text"].startswith(prefix)]


def test_year_end_target_goes_to_the_leader_after_the_lead(app, chat_as, clock):
    clock.set(parse_now("2025-12-01T09:00"))
    zhao = chat_as("赵干部")  # 招商一专班; its target is a 年度目标 due 12-31
    request_id = ask(zhao, "新签约引进省级重点项目1个以上", "2026-01-20", "客商考察推迟")
    assert pushed_to(app, f"🕒 延期申请(编号{request_id})\n") == ["周组长"]

    answer = chat_as("周组长").say(f"同意延期 {request_id}")
    assert answer == (f"✅ 已同意(编号{request_id}):新签约引进省级重点项目1个以上 延至 2026年1月20日,"
                      "还需分管领导审批,已转张主任。")
    row = request_row(app, request_id)
    assert (row.status, row.stage) == ("pending", "leader")
    assert task_row(app, "target_provincial_key_project").deadline == date(2025, 12, 31)
    assert pushed_to(app, f"🕒 延期申请(编号{request_id})待分管领导审批") == ["张主任"]
    # the team lead cannot decide the leader's step; the leader of another team neither
    assert chat_as("周组长").say(f"同意延期 {request_id}") == (
        f"这条延期申请(编号{request_id})专班负责人已同意,正等分管领导审批。")
    assert chat_as("陈主任").say(f"同意延期 {request_id}") == (
        f"这条延期申请(编号{request_id})专班负责人已同意,正等分管领导审批。")

    clock.set(parse_now("2025-12-02T10:00"))
    assert chat_as("张主任").say(f"同意延期 {request_id}").startswith(f"✅ 已同意延期(编号{request_id})")
    task = task_row(app, "target_provincial_key_project")
    assert (task.deadline, task.original_deadline, task.extension_count) == (
        date(2026, 1, 20), date(2025, 12, 31), 1)
    card = chat_as("张主任").say("/task 新签约引进省级重点项目1个以上")
    assert "时间节点:2026-01-20(原时限2025-12-31,延期1次)\n" in card
    assert "· 12-01 09:00 周组长同意延期至2026-01-20,转分管领导\n" in card
    assert "· 今天10:00 张主任(分管领导)同意延期至2026-01-20\n" in card
    with app.sessions() as session:
        steps = [(e.kind, e.data["step"]) for e in session.scalars(
            select(TaskEvent).where(TaskEvent.task_id == task.id).order_by(TaskEvent.id))]
    assert steps == [("extension", "lead_approved"), ("extension", "approved")]


def test_short_first_extension_needs_only_the_lead(app, chat_as, clock):
    set_task(app, "natu_electric", start_date=date(2025, 1, 1), deadline=date(2025, 9, 30))
    request_id = ask(chat_as("王干部"), "纳图电气", "2025-10-20", "设备到货推迟")
    assert chat_as("李组长").say(f"同意延期 {request_id}").startswith(f"✅ 已同意延期(编号{request_id})")
    task = task_row(app, "natu_electric")
    assert (task.deadline, task.original_deadline, task.extension_count) == (date(2025, 10, 20), date(2025, 9, 30), 1)

    # the second one goes up to the 分管领导 (陈主任 for 项目一专班), 原时限 stays the first date
    second = ask(chat_as("王干部"), "纳图电气", "2025-10-30", "再推迟")
    assert "已转陈主任" in chat_as("李组长").say(f"同意延期 {second}")
    assert request_row(app, second).stage == "leader"
    assert chat_as("陈主任").say(f"同意延期 {second}").startswith(f"✅ 已同意延期(编号{second})")
    task = task_row(app, "natu_electric")
    assert (task.deadline, task.original_deadline, task.extension_count) == (date(2025, 10, 30), date(2025, 9, 30), 2)


def test_long_extension_needs_the_leader_and_can_be_refused_there(app, chat_as, clock):
    set_task(app, "natu_electric", start_date=date(2025, 1, 1), deadline=date(2025, 9, 30))
    request_id = ask(chat_as("王干部"), "纳图电气", "2025-11-30", "审批流程长")  # 61 days > 30
    chat_as("李组长").say(f"同意延期 {request_id}")
    assert request_row(app, request_id).stage == "leader"
    assert chat_as("陈主任").say(f"不同意延期 {request_id} 请按原时限推进").startswith("已不同意延期")
    row = request_row(app, request_id)
    assert (row.status, row.decision_note) == ("refused", "请按原时限推进")
    task = task_row(app, "natu_electric")
    assert (task.deadline, task.original_deadline, task.extension_count) == (date(2025, 9, 30), None, 0)
    assert "陈主任(分管领导)不同意延期:请按原时限推进" in chat_as("王干部").say("/task 纳图电气")


def test_leader_days_come_from_config(app, chat_as, clock):
    app.config.workflow.extension_leader_days = 90
    set_task(app, "natu_electric", start_date=date(2025, 1, 1), deadline=date(2025, 9, 30))
    request_id = ask(chat_as("王干部"), "纳图电气", "2025-11-30", "审批流程长")
    assert chat_as("李组长").say(f"同意延期 {request_id}").startswith("✅ 已同意延期")
    assert request_row(app, request_id).status == "approved"


def test_a_progress_report_is_never_filed_as_the_extension_reason(app, chat_as):
    wang = chat_as("王干部")
    wang.say("纳图电气延期到明年3月底")
    assert wang.say("纳图电气 65.5%") == ("这像是报进展,不像延期理由。请写一句延期理由;"
                                     "要报进展请先发“取消”,再发“报进展”。")
    with app.sessions() as session:
        assert session.scalar(select(ExtensionRequest)) is None
    assert wang.say("设备到货推迟").startswith("✅ 延期申请已提交")
