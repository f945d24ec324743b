"""办结审核 and 退回: 100% makes a task 待审核; the team lead's 通过 closes it (已销号), 退回
needs a reason and sends it back; nobody reviews their own 100%; one of two racing reviewers wins."""
from sqlalchemy import select

from bot.models import OutboxMessage, Person, Task, TaskEvent
from bot.services import review
from bot.services.errors import InvalidInput
from tests.conftest import Chat, make_app


def task_row(app, key="natu_electric") -> Task:
    with app.sessions() as session:
        return session.scalar(select(Task).where(Task.key == key))


def pushes(app, kind="review") -> list[tuple[str, str, list]]:
    with app.sessions() as session:
        rows = session.execute(select(OutboxMessage, Person).join(Person, Person.id == OutboxMessage.person_id)
                               .where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)).all()
        return [(person.name, row.payload["text"], row.payload["actions"]) for row, person in rows]


def events(app, key="natu_electric") -> list[tuple[str, str, str]]:
    with app.sessions() as session:
        rows = session.execute(select(TaskEvent, Person).outerjoin(Person, Person.id == TaskEvent.actor_id)
                               .join(Task, Task.id == TaskEvent.task_id).where(Task.key == key)
                               .order_by(TaskEvent.id)).all()
        return [(e.kind, e.data["step"], p.name if p else "") for e, p in rows]


def test_full_cycle_report_return_report_approve(app, chat_as):
    cadre, lead = chat_as("王干部"), chat_as("李组长")
    receipt = cadre.say("/update 纳图电气 100% 竣工投产")
    assert receipt.splitlines()[-1] == "进度100%,已提交审核(待审核),审核通过后销号。"
    task = task_row(app)
    assert (task.status, task.review_status, task.progress) == ("active", "pending", 100.0)
    [(who, text, actions)] = pushes(app)
    assert who == "李组长" and text.startswith("🧾 待审核:纳图电气\n王干部报完成100%:竣工投产")
    assert actions == [f"pass:{task.id}", f"return:{task.id}"]
    assert "状态:待审核(已报完成,等专班负责人审核)" in lead.say("/task 纳图电气")

    # the cadre may not review; 退回 without a reason is refused; nothing changes
    assert cadre.say("通过 纳图电气") == "只有专班负责人或领导可以审核。"
    assert lead.say("退回 纳图电气") == "退回要写理由,例如:退回 纳图电气 验收材料不全"
    assert task_row(app).review_status == "pending"

    answer = lead.say("/return 纳图电气 验收材料不全 补齐消防验收")
    assert answer == "↩️ 已退回:纳图电气\n理由:验收材料不全 补齐消防验收\n已通知王干部,事项回到办理中。"
    task = task_row(app)
    assert (task.status, task.review_status, task.return_reason) == ("active", "returned", "验收材料不全 补齐消防验收")
    assert "退回理由:验收材料不全 补齐消防验收" in cadre.say("/task 纳图电气")
    assert pushes(app)[-1] == ("王干部", "↩️ 纳图电气 被退回(李组长)\n理由:验收材料不全 补齐消防验收\n"
                                       "请继续办理,办好后再报100%。", ["update"])
    assert lead.say("通过 纳图电气") == "“纳图电气”已被退回,等重新报100%后再审核。"

    cadre.say("/update 纳图电气 100% 材料已补齐")
    assert task_row(app).review_status == "pending"
    card = lead.replies("/task 纳图电气")
    approved = lead.press("通过", card)
    assert approved[0].text == "✅ 已审核通过:纳图电气,已销号。已通知责任人。"
    task = task_row(app)
    assert (task.status, task.review_status, task.return_reason) == ("done", "approved", None)
    assert "状态:已销号(审核通过)" in cadre.say("/task 纳图电气")
    assert pushes(app)[-1][:2] == ("王干部", "✅ 纳图电气 已通过审核(李组长),已销号。")
    assert lead.say("审核通过 纳图电气") == "“纳图电气”已通过审核(已销号),不用再审。"
    assert events(app) == [("review", "submitted", "王干部"), ("review", "returned", "李组长"),
                           ("review", "submitted", "王干部"), ("review", "approved", "李组长")]


def test_return_button_asks_the_reason_in_one_step(app, chat_as):
    chat_as("王干部").say("/update 纳图电气 100% 竣工")
    lead = chat_as("李组长")
    asked = lead.press("退回", lead.replies("/task 纳图电气"))
    assert asked[0].text == "退回“纳图电气”:请写退回理由(一句话)。发“取消”放弃。"
    assert task_row(app).review_status == "pending"
    assert lead.say("缺少竣工照片").startswith("↩️ 已退回:纳图电气\n理由:缺少竣工照片")
    assert task_row(app).return_reason == "缺少竣工照片"


def test_return_dialogue_can_be_cancelled(app, chat_as):
    chat_as("王干部").say("/update 纳图电气 100% 竣工")
    lead = chat_as("李组长")
    lead.press("退回", lead.replies("/task 纳图电气"))
    assert lead.say("取消") == "已取消,什么也没改。"
    assert task_row(app).review_status == "pending"


def test_nobody_reviews_their_own_100_and_other_teams(app, chat_as):
    # the team lead reports a team task 100%: the admin is asked, not the lead
    lead = chat_as("李组长")
    lead.say("/update 纳图电气 100% 竣工")
    assert [who for who, _, _ in pushes(app)] == ["张主任"]
    assert lead.say("通过 纳图电气") == "不能审核自己报的完成,请由专班负责人或领导审核。"
    assert chat_as("周组长").say("通过 纳图电气") == "“纳图电气”不是你专班的事项,不能审核。"
    assert task_row(app).review_status == "pending"
    assert chat_as("张主任").say("通过 纳图电气") == "✅ 已审核通过:纳图电气,已销号。已通知责任人。"


def test_nothing_to_review_and_unknown_task(app, chat_as):
    lead = chat_as("李组长")
    assert lead.say("通过 纳图电气") == "“纳图电气”没有待审核的完成申请(报100%后才需要审核)。"
    assert lead.say("通过").startswith("没有待审核的事项。")
    assert lead.say("通过 火星基地").startswith("没有找到事项“火星基地”")


def test_two_reviewers_at_once_one_wins(app, chat_as):
    chat_as("王干部").say("/update 纳图电气 100% 竣工")
    with app.sessions() as slow:  # 陈主任 opened the task while it was still pending ...
        chen = slow.scalar(select(Person).where(Person.name == "陈主任"))
        stale = slow.scalar(select(Task).where(Task.key == "natu_electric"))
        assert stale.review_status == "pending"
        slow.commit()
        # ... 李组长 approves first ...
        assert chat_as("李组长").say("通过 纳图电气").startswith("✅ 已审核通过")
        # ... so 陈主任's 退回 on the object still saying "pending" changes nothing
        stale.review_status = "pending"  # what 陈主任's copy believed
        try:
            review.return_task(slow, app.clock.now(), chen, stale, "再看看", app.config.lights)
        except InvalidInput as error:
            message = error.message
            slow.rollback()
        else:
            raise AssertionError("the second decision must not win")
    assert message == "“纳图电气”刚刚已被李组长通过(已销号),你的操作没有生效。"
    task = task_row(app)
    assert (task.status, task.review_status, task.return_reason) == ("done", "approved", None)


def test_lower_progress_withdraws_the_review(app, chat_as):
    cadre = chat_as("王干部")
    cadre.say("/update 纳图电气 100% 竣工")
    assert "确定吗" in cadre.say("/update 纳图电气 90% 还差验收")
    cadre.say("确定")
    task = task_row(app)
    assert (task.status, task.review_status, task.progress) == ("active", None, 90.0)
    assert chat_as("李组长").say("通过 纳图电气") == "“纳图电气”没有待审核的完成申请(报100%后才需要审核)。"


def test_pending_reviews_in_the_team_leads_digest(app, chat_as):
    from bot.services.digests import digest_text

    chat_as("王干部").say("/update 纳图电气 100% 竣工")
    with app.sessions() as session:
        xm1 = task_row(app).team_id
        text = digest_text(session, app.clock.now(), xm1)
    assert "待审核1项:纳图电气(发“通过 事项名”或“退回 事项名 理由”)" in text


def test_review_off_is_the_old_behaviour(db_url, tmp_path, clock):
    app = make_app(db_url, tmp_path, clock, workflow={"review_required": False})
    try:
        receipt = Chat(app, "王干部").say("/update 纳图电气 100% 竣工投产")
        assert receipt.splitlines()[-1] == "进度100%,事项已标记完成(销号)。"
        task = task_row(app)
        assert (task.status, task.review_status) == ("done", None)
        assert pushes(app) == []
    finally:
        app.engine.dispose()
