"""Instructions in words (issue 11 → the 督办 cycle of issue 10): 催办, 批示, 审核 退回/通过 and
交办 typed as sentences ask first ("将催办:…?") and record nothing; [确定] records exactly one
row or event and pushes; [取消] records nothing; a role that may not do it is refused in Chinese.
Lists 待审核 / 未签收 in words, and the ranking in words and in a team's summary."""
from sqlalchemy import func, select

from bot.models import Instruction, OutboxMessage, Task, TaskEvent


def count(app, model, *where):
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def task(app, name):
    with app.sessions() as session:
        row = session.scalar(select(Task).where(Task.name == name))
        session.expunge(row)
        return row


def pushes(app, kind):
    return count(app, OutboxMessage, OutboxMessage.kind == kind)


def events(app, kind):
    return count(app, TaskEvent, TaskEvent.kind == kind)


# ---- 催办

def test_urge_in_words_asks_then_urges_once(app, chat_as):
    chat = chat_as("张主任")
    asked = chat.replies("催一下王干部 纳图电气的进度")
    assert asked[0].text == "将催办:纳图电气(王干部)?"
    assert task(app, "纳图电气").urge_count == 0 and pushes(app, "urge") == 0
    done = "\n".join(r.text for r in chat.press("确定", asked))
    assert done.startswith("📣 已催办:纳图电气\n已通知王干部(第1次催办)")
    assert task(app, "纳图电气").urge_count == 1
    assert pushes(app, "urge") == 1 and events(app, "urge") == 1


def test_urge_in_words_cancelled_records_nothing(app, chat_as):
    chat = chat_as("李组长")
    asked = chat.replies("催王干部报纳图电气")
    assert asked[0].text == "将催办:纳图电气(王干部)?"
    assert "\n".join(r.text for r in chat.press("取消", asked)) == "已取消,什么也没做。"
    assert task(app, "纳图电气").urge_count == 0 and pushes(app, "urge") == 0 and events(app, "urge") == 0


def test_urge_a_person_outside_the_team_is_refused(app, chat_as):
    answer = chat_as("张主任").say("给赵干部发个催办 外资那个")
    assert answer == "赵干部不是“外资突破2000万美元”的责任人,也不是招商三专班的人员,不能催赵干部。"
    assert pushes(app, "urge") == 0


def test_cadre_may_not_urge_in_words(app, chat_as):
    assert chat_as("王干部").say("催一下 纳图电气") == "只有专班负责人或领导可以催办。"
    assert pushes(app, "urge") == 0


# ---- 批示

def test_instruct_in_words_asks_then_records_one_and_pushes(app, chat_as):
    chat = chat_as("陈主任")
    asked = chat.replies("纳图电气 批示 请专班加强与企业对接")
    assert asked[0].text == "将批示:纳图电气“请专班加强与企业对接”?"
    assert count(app, Instruction) == 0 and pushes(app, "instruction") == 0
    done = "\n".join(r.text for r in chat.press("确定", asked))
    assert done.startswith("✅ 批示已记录:纳图电气\n已推送给王干部、李组长")
    with app.sessions() as session:
        rows = [(r.task_id, r.text) for r in session.scalars(select(Instruction))]
    assert rows == [(task(app, "纳图电气").id, "请专班加强与企业对接")]
    assert count(app, Instruction) == 1 and pushes(app, "instruction") == 2


def test_instruct_in_words_cancelled_records_nothing(app, chat_as):
    chat = chat_as("张主任")
    asked = chat.replies("对纳图电气批示一下 本月底前主体封顶")
    assert "\n".join(r.text for r in chat.replies("取消")) == "已取消,什么也没改。"
    assert asked[0].text == "将批示:纳图电气“本月底前主体封顶”?"
    assert count(app, Instruction) == 0 and pushes(app, "instruction") == 0


def test_cadre_instruct_in_words_is_refused(app, chat_as):
    assert chat_as("王干部").say("对纳图电气批示一下 抓紧") == "只有街道领导可以批示。"
    assert count(app, Instruction) == 0


def test_instruct_command_without_a_task_uses_the_topic_and_asks(app, chat_as):
    chat = chat_as("张主任")
    chat.say("纳图电气怎么样")
    asked = chat.replies("批示 加快招商进度")
    assert asked[0].text == "将批示:纳图电气“加快招商进度”?"
    assert count(app, Instruction) == 0
    chat.press("确定", asked)
    assert count(app, Instruction) == 1


def test_instruct_command_names_the_task_and_acts_at_once(app, chat_as):
    answer = chat_as("张主任").say("批示 纳图电气:本月底前完成主体封顶")
    assert answer.startswith("✅ 批示已记录:纳图电气")
    assert count(app, Instruction) == 1


# ---- 审核 退回 / 通过

def test_return_in_words_asks_then_returns(app, chat_as):
    chat_as("王干部").say("/update 纳图电气 100% 完工")
    lead = chat_as("李组长")
    assert lead.say("待我审核的").startswith("待审核事项(共1项)")
    asked = lead.replies("纳图电气不通过,数字对不上")
    assert asked[0].text == "将退回:纳图电气 理由:数字对不上?"
    assert task(app, "纳图电气").review_status == "pending"
    reviews_before = events(app, "review")
    done = "\n".join(r.text for r in lead.press("确定", asked))
    assert done.startswith("↩️ 已退回:纳图电气\n理由:数字对不上")
    row = task(app, "纳图电气")
    assert row.review_status == "returned" and row.return_reason == "数字对不上"
    assert events(app, "review") == reviews_before + 1
    assert pushes(app, "review") >= 1


def test_return_in_words_cancelled_changes_nothing(app, chat_as):
    chat_as("王干部").say("/update 纳图电气 100% 完工")
    lead = chat_as("李组长")
    reviews_before = events(app, "review")
    asked = lead.replies("纳图电气 退回 缺现场照片")
    lead.press("取消", asked)
    assert task(app, "纳图电气").review_status == "pending"
    assert events(app, "review") == reviews_before


def test_approve_in_words_asks_then_closes(app, chat_as):
    chat_as("王干部").say("/update 纳图电气 100% 完工")
    lead = chat_as("李组长")
    asked = lead.replies("同意 纳图电气办结")
    assert asked[0].text == "将审核通过:纳图电气(销号)?"
    assert task(app, "纳图电气").status == "active"
    assert "\n".join(r.text for r in lead.press("确定", asked)).startswith("✅ 已审核通过:纳图电气")
    assert task(app, "纳图电气").status == "done"


def test_review_in_words_with_nothing_pending_says_so(app, chat_as):
    assert chat_as("李组长").say("纳图电气 审核通过") == \
        "“纳图电气”没有待审核的完成申请(报100%后才需要审核)。"


def test_cadre_may_not_review_in_words(app, chat_as):
    chat_as("王干部").say("/update 纳图电气 100% 完工")
    assert chat_as("王干部").say("纳图电气 审核通过") == "只有专班负责人或领导可以审核。"
    assert task(app, "纳图电气").review_status == "pending"


# ---- 交办

def test_assign_in_words_asks_then_creates_one_task_and_pushes(app, chat_as):
    chat = chat_as("张主任")
    tasks_before = count(app, Task)
    asked = chat.replies("新建事项 防汛物资清点 给王干部 下周五前")
    assert asked[0].text == "将交办:防汛物资清点,项目一专班,责任人:王干部,截止2025-07-25?"
    assert count(app, Task) == tasks_before and pushes(app, "assign") == 0
    done = "\n".join(r.text for r in chat.press("确定", asked))
    assert done.startswith("✅ 已交办:防汛物资清点")
    assert count(app, Task) == tasks_before + 1
    row = task(app, "防汛物资清点")
    assert row.deadline.isoformat() == "2025-07-25" and row.assigned_at is not None and row.signed_at is None
    assert count(app, OutboxMessage, OutboxMessage.task_id == row.id) == 2  # 王干部 and 李组长
    assert chat.say("还没签收的交办单").startswith("未签收的交办(共1项)")


def test_assign_in_words_cancelled_creates_nothing(app, chat_as):
    chat = chat_as("张主任")
    tasks_before = count(app, Task)
    asked = chat.replies("交办一个事 老旧小区加装电梯摸排 项目二专班 9月底前")
    assert asked[0].text == "将交办:老旧小区加装电梯摸排,项目二专班,截止2025-09-30?"
    chat.press("取消", asked)
    assert count(app, Task) == tasks_before


def test_team_lead_assign_in_words_is_refused(app, chat_as):
    tasks_before = count(app, Task)
    assert chat_as("李组长").say("交办给王干部 纳图电气竣工资料整理 下个月15号前") == "只有街道领导或管理员可以交办事项。"
    assert count(app, Task) == tasks_before


# ---- ranking and lists

def test_ranking_in_words(app, chat_as):
    answer = chat_as("周组长").say("我们排第几名")
    assert answer.startswith("招商一专班排第") and "🏆 专班考核排名" in answer and "👉" in answer
    only = chat_as("张主任").say("项目专班排个名")
    assert "项目专班6个,共11个专班" in only and "招商" not in only.split("得分=")[0]
    assert chat_as("王干部").say("各专班排名") == "排名只对专班负责人和领导开放。"


def test_team_summary_shows_the_ranking_position(app, chat_as):
    assert "考核排名:第" in chat_as("张主任").say("项目一专班情况怎么样")


def test_awaiting_review_in_words_is_the_reviewers_list(app, chat_as):
    assert chat_as("李组长").say("待我审核的") == "待审核事项:没有。"
    assert chat_as("张主任").say("待审核的") == "待审核事项:没有。"
    chat_as("赵干部").say("/update 新签约引进省级重点项目1个以上 100%")
    assert chat_as("周组长").say("有没有要我审的") == "待审核事项(共1项)\n🟢 新签约引进省级重点项目1个以上 100% 截止12-31"
    assert chat_as("张主任").say("待审核的").startswith("待审核事项(共1项)")
