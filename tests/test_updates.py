"""Progress reports: logging, history, confirmation, permissions, bad input, idempotency."""
import pytest
from sqlalchemy import func, select

from bot.messages import Incoming
from bot.models import AuditEntry, ChatIdentity, Task, TaskUpdate
from handlers.core import handle


def counts(app):
    with app.sessions() as session:
        return (session.scalar(select(func.count()).select_from(TaskUpdate)),
                session.scalar(select(func.count()).select_from(AuditEntry)),
                session.scalar(select(Task.progress).where(Task.key == "natu_electric")))


def test_one_line_update_is_logged_and_shown(app, chat_as):
    answer = chat_as("王干部").say("/update 纳图电气 65% 主体厂房封顶")
    assert answer.splitlines()[:2] == ["✅ 已记录:纳图电气 65%", "王干部 · 今天09:00 · 主体厂房封顶"]
    # the task has no deadline in the report: no 序时进度, and 65% reported -> green
    assert answer.splitlines()[2] == "🟢 绿灯"
    card = chat_as("王干部").say("纳图电气")
    assert "进度:65%" in card and "· 今天09:00 王干部 65%:主体厂房封顶" in card
    with app.sessions() as session:
        update = session.scalar(select(TaskUpdate))
        assert (update.progress, update.note, update.author.name) == (65, "主体厂房封顶", "王干部")
        assert update.created_at.isoformat() == "2025-07-15T09:00:00+08:00"
        audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "update"))
        assert audit.before == {"progress": None, "status": "active"}
        assert audit.after["progress"] == 65
    # the card shows it at once, to anyone
    assert "进度:65%" in chat_as("张主任").say("纳图电气进展")


@pytest.mark.parametrize("text", [
    "/update 纳图电气 ６５％ 主体厂房封顶",     # full-width digits
    "进展 纳图电气 65% 主体厂房封顶",           # the Chinese command word
    "/update 纳图电气65%主体厂房封顶",          # no spaces
    "/update 纳图电气 65 主体厂房封顶",         # no percent sign
])
def test_update_forms(app, chat_as, text):
    assert chat_as("王干部").say(text).startswith("✅ 已记录")
    assert counts(app)[2] == 65


def test_lower_progress_asks_first(app, chat_as):
    chat = chat_as("王干部")
    chat.say("/update 纳图电气 65% 封顶")
    question = chat.say("/update 纳图电气 60% 返工")
    assert "上次报的是 65%,这次 60% 更低" in question
    assert counts(app)[2] == 65
    assert chat.say("取消") == "已取消,什么也没改。"
    assert counts(app)[2] == 65
    chat.say("/update 纳图电气 60% 返工")
    assert chat.say("确定").startswith("✅ 已记录")
    assert counts(app)[2] == 60


def test_hundred_percent_waits_for_review(app, chat_as):
    # 办结审核 (workflow.review_required, default on): 100% is 待审核, not yet 销号
    answer = chat_as("王干部").say("/update 纳图电气 100% 竣工投产")
    assert "进度100%,已提交审核(待审核),审核通过后销号。" in answer
    with app.sessions() as session:
        assert session.execute(select(Task.status, Task.review_status)
                               .where(Task.key == "natu_electric")).one() == ("active", "pending")


@pytest.mark.parametrize("text, reply_start", [
    ("/update 纳图电气 150% 超额", "进度要在 0% 到 100% 之间"),
    ("/update 纳图电气 -5% 倒退", "进度要在 0% 到 100% 之间"),
    ("/update 纳图电气 abc% 说明", "进度要写成数字加%"),
    ("/update 月球基地 50%", "没有找到事项“月球基地”"),
    ("/update 纳图电气", "请写上进度或进展说明"),
    ("/update 纳图电气 50% " + "长" * 1200, "进展说明太长"),
    ("x" * 5000, "消息太长(5000字)"),
])
def test_bad_updates_change_nothing(app, chat_as, text, reply_start):
    before = counts(app)
    assert chat_as("王干部").say(text).startswith(reply_start)
    assert counts(app) == before


def test_leader_reads_but_cannot_update(app, chat_as):
    before = counts(app)
    assert chat_as("陈主任").say("/update 纳图电气 65% 封顶").startswith("领导账号只能查看")
    assert counts(app) == before


def test_cadre_cannot_update_another_teams_task(app, chat_as):
    before = counts(app)
    assert "不属于你的专班" in chat_as("赵干部").say("/update 纳图电气 65% 封顶")
    assert counts(app) == before


def test_team_lead_updates_own_team(app, chat_as):
    assert chat_as("李组长").say("/update 纳图电气 40% 桩基完成").startswith("✅ 已记录")


def test_unknown_user_only_gets_how_to_register(app):
    before = counts(app)
    replies = handle(app, Incoming(channel="telegram", chat_id="999", user_id="999", text="财政收入多少"))
    assert "请向管理员要邀请码" in replies[0].text
    replies = handle(app, Incoming(channel="telegram", chat_id="999", user_id="999",
                                   text="/update 纳图电气 65% 封顶"))
    assert "请向管理员要邀请码" in replies[0].text
    assert counts(app) == before


def test_invite_binds_once(app):
    def send(user, text):
        return handle(app, Incoming(channel="telegram", chat_id=user, user_id=user, text=text))[0].text

    assert send("111", "/start WRONGCODE").startswith("邀请码不对")
    assert send("111", "/start demowxm1").startswith("绑定成功:王干部(干部,项目一专班)")
    assert send("111", "纳图电气进展").startswith("⚪ 纳图电气")
    assert send("222", "/start DEMOWXM1") == "这个邀请码已经用过了。请向管理员要一个新的。"
    with app.sessions() as session:
        identities = session.scalars(select(ChatIdentity).where(ChatIdentity.channel == "telegram")).all()
        assert [(i.external_user_id, i.person.name) for i in identities] == [("111", "王干部")]


def test_admin_creates_invites_others_cannot(app, chat_as):
    answer = chat_as("张主任").say("/invite 赵干部")
    assert answer.startswith("赵干部的邀请码:")
    assert chat_as("王干部").say("/invite 赵干部") == "只有管理员可以这样做。"


def test_redelivered_message_logs_once(app, chat_as):
    chat = chat_as("王干部")
    first = chat.replies("/update 纳图电气 65% 封顶", message_ref="telegram:update:42")
    again = chat.replies("/update 纳图电气 65% 封顶", message_ref="telegram:update:42")
    assert first and not again
    assert counts(app)[0] == 1


def test_guided_update_survives_a_restart(app, chat_as, clock, tmp_path):
    from bot.composition import build_app

    chat = chat_as("王干部")
    start = chat.replies("报进展")
    assert "选一个事项" in start[0].text
    assert "请发现在的进度" in chat.press("纳图电气", start)[0].text
    assert "请写一句进展说明" in chat.say("70%")
    # the process restarts: a new app on the same database, same person
    restarted = build_app(app.config, clock)
    from tests.conftest import Chat
    chat2 = Chat(restarted, "王干部")
    summary = chat2.replies("钢结构吊装完成")
    assert "进度:未报 → 70%" in summary[0].text
    done = chat2.press("确定提交", summary)
    assert done[0].text.startswith("✅ 已记录")
    assert counts(app)[2] == 70


def test_guided_update_can_be_cancelled(app, chat_as):
    chat = chat_as("王干部")
    chat.press("纳图电气", chat.replies("报进展"))
    assert chat.say("取消") == "已取消,什么也没改。"
    assert chat.say("70%").startswith("是哪个事项")  # no longer in the dialogue: which task?
    assert counts(app)[0] == 0


def test_forged_button_data_is_refused(app, chat_as):
    chat = chat_as("王干部")
    replies = chat.replies(callback="t|1~aaaaaa")
    assert replies[0].text == "按钮已过期,请重新发命令。" and replies[0].notice == "已过期"
    stale = chat.replies(callback=app.sign("g", 99999, "pick", 1))
    assert "已过期" in stale[0].text


def test_milestone_marked_done(app, chat_as):
    chat = chat_as("张主任")
    answer = chat.say("/update 希尔顿综合商业中心 100% 节点:建成开业 已开业")
    assert "完成节点“建成开业”" in answer
    card = chat.say("希尔顿综合商业中心")
    assert "✔建成开业" in card and "完成节点“建成开业”" in card
    bad = chat.say("/update 希尔顿综合商业中心 节点:封顶")
    assert "没有节点“封顶”" in bad


def test_admin_adds_people_and_changes_roles_with_audit(app, chat_as):
    admin = chat_as("张主任")
    added = admin.say("/adduser 钱干部 干部 项目二专班")
    assert added.startswith("已新增 钱干部(干部,项目二专班)。")
    code = added.split("/start ")[-1]
    bound = handle(app, Incoming(channel="wecom", chat_id="qian", user_id="qian", text=f"/start {code}"))
    assert bound[0].text.startswith("绑定成功:钱干部")
    assert admin.say("/role 钱干部 专班负责人 项目二专班") == "钱干部 现为专班负责人,项目二专班。"
    assert admin.say("/role 钱干部 皇帝") == "角色写:领导、专班负责人 或 干部。"
    assert chat_as("王干部").say("/role 钱干部 领导") == "只有管理员可以这样做。"
    with app.sessions() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "role"))
        assert entry.before == {"role": "cadre", "team": "xm2"}
        assert entry.after == {"role": "team_lead", "team": "xm2"}


TEXT_HINT = "请发文字,例如:财政收入多少、纳图电气进展。发 /help 看全部用法。"
EMOJI_HINT = "没找到“😀😀😀”。\n可以问:财政收入、社零、固投、纳图电气进展;\n或发 /kpi 看全部指标,/tasks 看全部事项。"


@pytest.mark.parametrize("text, expected", [("", TEXT_HINT), ("   ", TEXT_HINT), ("😀😀😀", EMOJI_HINT)])
def test_empty_or_emoji_only_messages_get_a_hint(app, chat_as, text, expected):
    before = counts(app)
    answer = chat_as("王干部").say(text)
    assert answer == expected
    assert counts(app) == before


def test_mixed_scripts_and_emoji_in_a_report(app, chat_as):
    answer = chat_as("王干部").say("/update 纳图电气 ７０％ 🏗️主体structure封顶OK")
    assert answer.startswith("✅ 已记录:纳图电气 70%")
    with app.sessions() as session:
        assert session.scalar(select(TaskUpdate.note)) == "🏗️主体structure封顶OK"


def test_old_message_ids_are_forgotten_recent_ones_still_block_repeats(app, chat_as, clock):
    import asyncio
    from datetime import timedelta

    from bot.models import InboundSeen
    from jobs.scheduler import housekeeping

    chat = chat_as("王干部")
    chat.replies("/update 纳图电气 60% 封顶", message_ref="telegram:update:1")
    clock.advance(timedelta(days=2))
    chat.replies("/update 纳图电气 65% 装修", message_ref="telegram:update:2")
    clock.advance(timedelta(days=1, hours=1))
    asyncio.run(housekeeping(app))
    with app.sessions() as session:
        assert session.scalars(select(InboundSeen.external_id)).all() == ["telegram:update:2"]
    assert chat.replies("/update 纳图电气 65% 装修", message_ref="telegram:update:2") == []
    assert counts(app)[0] == 2


def test_problems_and_next_steps_one_line(app, chat_as):
    answer = chat_as("王干部").say("/update 纳图电气 60% 设备进场 问题:电力增容未批 下步:下周报供电公司")
    assert answer.splitlines()[:4] == ["✅ 已记录:纳图电气 60%", "王干部 · 今天09:00 · 设备进场",
                                       "存在问题:电力增容未批", "下步计划:下周报供电公司"]
    with app.sessions() as session:
        update = session.scalar(select(TaskUpdate))
        assert (update.note, update.problems, update.next_steps) == ("设备进场", "电力增容未批", "下周报供电公司")
        task = session.scalar(select(Task).where(Task.key == "natu_electric"))
        assert (task.problems, task.next_steps) == ("电力增容未批", "下周报供电公司")
    card = chat_as("李组长").say("纳图电气")
    assert "存在问题:电力增容未批\n下步计划:下周报供电公司" in card
    # a later update without them keeps the latest ones on the card
    chat_as("王干部").say("/update 纳图电气 65% 调试")
    with app.sessions() as session:
        task = session.scalar(select(Task).where(Task.key == "natu_electric"))
        assert (task.progress, task.problems) == (65, "电力增容未批")


def test_guided_update_asks_for_problems_and_they_can_be_skipped(app, chat_as):
    chat = chat_as("王干部")
    chat.press("纳图电气", chat.replies("报进展"))
    chat.say("70%")
    summary = chat.say("钢结构吊装完成")
    assert summary == ("请确认:📌 纳图电气\n进度:未报 → 70%\n说明:钢结构吊装完成\n"
                       "有存在问题或下步计划吗?发“问题:…”“下步:…”补充(可跳过)。\n回复“确定”提交,“取消”放弃。")
    summary = chat.say("问题:吊车不足 下步:周五前完成屋面")
    assert summary == ("请确认:📌 纳图电气\n进度:未报 → 70%\n说明:钢结构吊装完成\n存在问题:吊车不足\n"
                       "下步计划:周五前完成屋面\n回复“确定”提交,“取消”放弃。")
    assert chat.say("确定").startswith("✅ 已记录")
    with app.sessions() as session:
        update = session.scalar(select(TaskUpdate))
        assert (update.problems, update.next_steps) == ("吊车不足", "周五前完成屋面")
    # skipped: 确定 right away records none
    chat.press("纳图电气", chat.replies("报进展"))
    chat.say("75%")
    chat.say("屋面施工")
    assert chat.say("确定").startswith("✅ 已记录")
    with app.sessions() as session:
        latest = session.scalars(select(TaskUpdate).order_by(TaskUpdate.id)).all()[-1]
        assert (latest.progress, latest.problems, latest.next_steps) == (75, None, None)
