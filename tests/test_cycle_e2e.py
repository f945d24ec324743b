"""The whole 督办 cycle end to end, through real processes:

1. ``python run.py telegram`` long-polling the fake Bot API (SQLite file, and PostgreSQL when
   reachable): 交办 → 签收 → 报进展 with 存在问题/下步计划 → 催办 → 批示/反馈 → 延期 up to the
   分管领导 → 100% → 退回 with a reason → 100% → 通过 → 已销号, then /rank and the /export 台账;
2. the same cycle through WeCom's encrypted callback (``python run.py serve``), with numbered
   choices instead of buttons.

Every step asserts the exact text each user sees; the end asserts the database. With
``DUBAN_WRITE_TRANSCRIPT=1`` the Telegram run writes docs/cycle-transcript.md (the transcript and
the ranking of the demo data at 2026-01-05)."""
from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path

import httpx
import openpyxl
import pytest
import yaml
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from bot.config import PROJECT_ROOT
from bot.models import (
    ExtensionRequest,
    Instruction,
    OutboxMessage,
    Person,
    Task,
    TaskEvent,
    TaskUpdate,
)
from testing.fake_telegram import FakeTelegramAPI
from testing.fake_wecom import FakeWeComAPI, make_text_xml
from tests.conftest import PG_URL, fresh_pg_database, pg_unavailable
from tests.test_wecom_process import WAIT_S, Bot
from tests.wecom_helpers import AGENT, CORP, ROBOT_KEY, SECRET, texts

pytestmark = pytest.mark.slow

TOKEN = "123:ABC"
#: a Sunday: no digest, brief or deadline reminder is due, so every message is the cycle's
START = "2025-11-30T10:00"
USERS = {"陈主任": 2001, "李组长": 2002, "王干部": 2003}
INVITES = {"陈主任": "DEMOCHEN", "李组长": "DEMOLXM1", "王干部": "DEMOWXM1"}
TASK = "雕庄路口改造"
BOUND_AS = {"陈主任": "街道领导", "李组长": "专班负责人,项目一专班", "王干部": "干部,项目一专班"}
TRANSCRIPT_DOC = PROJECT_ROOT / "docs" / "cycle-transcript.md"


def stable(text: str) -> str:
    """The clock ticks from 10:00 while the test runs: minutes read as 10:0x."""
    return re.sub(r"(?<!\d)10:0\d(?!\d)", "10:0x", text)


# ---------------------------------------------------------------- the expected texts

ASSIGN_LINE = f"交办 {TASK} 项目一专班 王干部 2025-12-31 批示"
CONFIRM = (f"请确认交办:\n📌 {TASK}\n牵头专班:项目一专班  责任人:王干部\n时间节点:2025-12-31\n来源:批示\n"
           "回复“确定”交办,“取消”放弃。")
ASSIGNED = f"✅ 已交办:{TASK}\n已通知王干部、李组长签收。"
ASSIGN_PUSH = (f"📥 新交办(陈主任)\n📌 {TASK}\n专班:项目一专班  责任人:王干部\n时间节点:2025-12-31\n来源:批示\n"
               f"请点“签收”,或回复“签收 {TASK}”。")
SIGNED = f"✅ 已签收:{TASK}\n时间节点:2025-12-31。办理中请及时报进展。"
SIGNED_PUSH = f"✅ 王干部已签收:{TASK}"
UPDATE_LINE = f"进展 {TASK} 40% 管线迁改完成 问题:雨污分流审批未下 下步:12月15日前完成路面施工"
UPDATED = (f"✅ 已记录:{TASK} 40%\n王干部 · 今天10:0x · 管线迁改完成\n存在问题:雨污分流审批未下\n"
           "下步计划:12月15日前完成路面施工\n🟢 绿灯(序时进度0%)")
CARD_BEFORE_URGE = (f"🟢 {TASK}【交办事项】\n专班:项目一专班  责任人:王干部\n"
                    "来源:批示  交办:陈主任今天10:0x  签收:王干部今天10:0x\n时间节点:2025-12-31\n"
                    "进度:40%(序时进度0%)\n状态:绿灯\n存在问题:雨污分流审批未下\n下步计划:12月15日前完成路面施工\n"
                    "最近进展:\n· 今天10:0x 王干部 40%:管线迁改完成")
URGED = f"📣 已催办:{TASK}\n已通知王干部(第1次催办)。"
URGE_PUSH = f"📣 催办(李组长,第1次)\n📌 {TASK}\n截止:2025-12-31\n进度:40%\n请尽快办理并报进展。"
INSTRUCT_LINE = f"批示 {TASK} 春节前务必完工"
INSTRUCTED = f"✅ 批示已记录:{TASK}\n已推送给王干部、李组长,反馈后会告诉你。"
INSTRUCT_PUSH = (f"📝 领导批示(陈主任)\n📌 {TASK}\n春节前务必完工\n"
                 f"办理后请点“反馈”,或回复“反馈 {TASK} 内容”。")
FEEDBACK = "已协调区住建局,12月20日前完工"
FEEDBACK_DONE = f"✅ 已反馈:{TASK}\n批示:春节前务必完工\n已告诉陈主任。"
FEEDBACK_PUSH = f"📨 批示反馈(王干部)\n📌 {TASK}\n批示:春节前务必完工\n反馈:{FEEDBACK}"
EXTEND_ASK_DATE = (f"申请延期:📌 {TASK}\n现截止:12月31日(周三)\n"
                   "请发新的日期,如 2026-01-15、1月15日、1.15、下周五。(发“取消”退出)")
EXTEND_ASK_REASON = "新日期:2026年1月20日。\n请写一句延期理由。"
EXTEND_SENT = "✅ 延期申请已提交(编号1),等专班负责人审批,结果会通知你。"
EXTEND_PUSH_LEAD = (f"🕒 延期申请(编号1)\n📌 {TASK}\n王干部申请:12月31日 → 2026年1月20日\n理由:雨季影响路面施工\n"
                    "点按钮,或回复“同意延期 1”/“不同意延期 1”。")
LEAD_AGREED = f"✅ 已同意(编号1):{TASK} 延至 2026年1月20日,还需分管领导审批,已转陈主任。"
EXTEND_PUSH_LEADER = (f"🕒 延期申请(编号1)待分管领导审批\n📌 {TASK}\n12月31日 → 2026年1月20日\n理由:雨季影响路面施工\n"
                      "专班负责人李组长已同意;需分管领导审批:年度目标\n点按钮,或回复“同意延期 1”/“不同意延期 1”。")
EXTEND_PUSH_OWNER_STEP = f"🕒 延期申请(编号1)专班负责人李组长已同意,已转分管领导审批(年度目标)。\n📌 {TASK}"
LEADER_AGREED = f"✅ 已同意延期(编号1):{TASK} 截止改为 2026年1月20日,已通知申请人。"
EXTEND_PUSH_OWNER_DONE = f"✅ 延期已同意(陈主任)\n📌 {TASK}\n新截止:2026年1月20日"
DONE_LINE = f"/update {TASK} 100% 路面完工"
DONE_REPORTED = (f"✅ 已记录:{TASK} 100%\n王干部 · 今天10:0x · 路面完工\n"
                 "进度100%,已提交审核(待审核),审核通过后销号。")
REVIEW_PUSH = (f"🧾 待审核:{TASK}\n王干部报完成100%:路面完工\n"
               "点“通过”销号,或“退回”并写理由。也可回复:通过 事项名 / 退回 事项名 理由")
NOT_YOURS_TO_REVIEW = "只有专班负责人或领导可以审核。"
RETURN_ASK = f"退回“{TASK}”:请写退回理由(一句话)。发“取消”放弃。"
RETURNED = f"↩️ 已退回:{TASK}\n理由:缺竣工验收照片\n已通知王干部,事项回到办理中。"
RETURN_PUSH = f"↩️ {TASK} 被退回(李组长)\n理由:缺竣工验收照片\n请继续办理,办好后再报100%。"
CARD_RETURNED = (f"🟢 {TASK}【交办事项】\n专班:项目一专班  责任人:王干部\n"
                 "来源:批示  交办:陈主任今天10:0x  签收:王干部今天10:0x\n"
                 "时间节点:2026-01-20(原时限2025-12-31,延期1次)\n"
                 "· 今天10:0x 李组长同意延期至2026-01-20,转分管领导\n"
                 "· 今天10:0x 陈主任(分管领导)同意延期至2026-01-20\n"
                 "进度:100%(序时进度0%)\n状态:绿灯\n退回理由:缺竣工验收照片\n催办:1次,最近今天10:0x\n"
                 "存在问题:雨污分流审批未下\n下步计划:12月15日前完成路面施工\n"
                 "最近进展:\n· 今天10:0x 王干部 100%:路面完工\n· 今天10:0x 王干部 40%:管线迁改完成")
AGAIN_LINE = f"/update {TASK} 100% 已补竣工验收照片"
AGAIN_REPORTED = (f"✅ 已记录:{TASK} 100%\n王干部 · 今天10:0x · 已补竣工验收照片\n"
                  "进度100%,已提交审核(待审核),审核通过后销号。")
REVIEW_PUSH_AGAIN = REVIEW_PUSH.replace("路面完工", "已补竣工验收照片")
APPROVED = f"✅ 已审核通过:{TASK},已销号。已通知责任人。"
APPROVED_PUSH = f"✅ {TASK} 已通过审核(李组长),已销号。"
APPROVE_TWICE = f"“{TASK}”已通过审核(已销号),不用再审。"
RANK_HEAD = "🏆 专班考核排名(11月30日,共11个专班)"
RANK_MINE = "👉1. 项目一专班 111.5分\n   3项 按期100% 逾期0 红灯1 未签收0 报送间隔20天 催办1"
RANK_LEADER_ROW = "1. 项目一专班 111.5分\n   3项 按期100% 逾期0 红灯1 未签收0 报送间隔20天 催办1"
RANK_RULE = "得分=100+按期办结率×20−逾期×5−红灯×2−未签收×1−催办×0.5−报送间隔超14天每天×1"
EXPORTED = "📎 雕庄街道台账·项目一专班事项:事项3项,指标62行。"
LEDGER_ROW = {
    "类别": "交办事项", "项目/事项": TASK, "来源": "批示", "牵头专班": "项目一专班", "责任人": "王干部",
    "分管领导": "陈主任", "原时限": datetime(2025, 12, 31), "时间节点": datetime(2026, 1, 20), "延期次数": 1,
    "完成进度": 1, "状态": "已完成", "审核状态": "已销号", "最新进展": "已补竣工验收照片",
    "存在问题": "雨污分流审批未下", "下步计划": "12月15日前完成路面施工", "最近批示": "春节前务必完工",
    "催办次数": 1,
}


# ---------------------------------------------------------------- the database at the end

def check_database(url: str) -> None:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            task = session.scalar(select(Task).where(Task.name == TASK))
            names = {p.id: p.name for p in session.scalars(select(Person))}
            assert (task.team.code, names[task.owner_id], names[task.assigned_by_id], names[task.signed_by_id]) == \
                ("xm1", "王干部", "陈主任", "王干部")
            assert (task.origin, task.category, task.status, task.review_status, task.progress) == \
                ("批示", "交办事项", "done", "approved", 100.0)
            assert (task.deadline, task.original_deadline, task.extension_count) == \
                (date(2026, 1, 20), date(2025, 12, 31), 1)
            assert (task.return_reason, task.problems, task.next_steps, task.urge_count) == \
                (None, "雨污分流审批未下", "12月15日前完成路面施工", 1)
            updates = session.scalars(select(TaskUpdate).where(TaskUpdate.task_id == task.id)
                                      .order_by(TaskUpdate.id)).all()
            assert [(u.progress, u.note, names[u.author_id]) for u in updates] == [
                (40, "管线迁改完成", "王干部"), (100, "路面完工", "王干部"), (100, "已补竣工验收照片", "王干部")]
            assert (updates[0].problems, updates[0].next_steps) == ("雨污分流审批未下", "12月15日前完成路面施工")
            [instruction] = session.scalars(select(Instruction).where(Instruction.task_id == task.id)).all()
            assert (instruction.text, names[instruction.leader_id], instruction.answer,
                    names[instruction.answered_by_id]) == ("春节前务必完工", "陈主任", FEEDBACK, "王干部")
            [request] = session.scalars(select(ExtensionRequest).where(ExtensionRequest.task_id == task.id)).all()
            assert (request.status, request.stage, request.old_deadline, request.new_deadline, request.reason,
                    names[request.lead_decided_by_id], names[request.decided_by_id]) == (
                "approved", "leader", date(2025, 12, 31), date(2026, 1, 20), "雨季影响路面施工", "李组长", "陈主任")
            events = session.execute(select(TaskEvent.kind, TaskEvent.data, TaskEvent.actor_id)
                                     .where(TaskEvent.task_id == task.id).order_by(TaskEvent.id)).all()
            assert [(kind, (data or {}).get("step"), names.get(actor)) for kind, data, actor in events] == [
                ("assign", None, "陈主任"), ("sign", None, "王干部"), ("urge", None, "李组长"),
                ("instruct", None, "陈主任"), ("feedback", None, "王干部"),
                ("extension", "lead_approved", "李组长"), ("extension", "approved", "陈主任"),
                ("review", "submitted", "王干部"), ("review", "returned", "李组长"),
                ("review", "submitted", "王干部"), ("review", "approved", "李组长")]
            # every push recorded was delivered
            statuses = {s for s in session.scalars(select(OutboxMessage.status))}
            assert statuses == {"sent"}, statuses
    finally:
        engine.dispose()


# ---------------------------------------------------------------- Telegram

def drop_pg_database(url: str) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)"))
    admin.dispose()


class TelegramCycle:
    """Drives the three users through the fake Bot API; keeps the transcript in order."""

    def __init__(self, fake: FakeTelegramAPI) -> None:
        self.fake = fake
        self.transcript: list[str] = []
        self.expected_total = 0

    def _count(self, name: str) -> int:
        return len(self.fake._matching_sent(None, USERS[name]))

    def _act(self, who: str, shown: str, push, expect: dict[str, int]) -> dict[str, list[dict]]:
        """Do ``push`` as ``who``; wait for ``expect[name]`` messages to each user (the actor
        included); return them as the users see them (texts made stable)."""
        self.transcript.append(f"👤 {who}:{shown}")
        before = {name: self._count(name) for name in expect}
        push()
        got: dict[str, list[dict]] = {}
        for name in [who] + [n for n in expect if n != who]:
            n = expect.get(name, 0)
            if not n:
                continue
            records = self.fake.wait_for_sent_sync(before[name] + n, chat_id=USERS[name], timeout=20)
            got[name] = records[before[name]:before[name] + n]
            self.expected_total += n
            for record in got[name]:
                record["seen"] = stable(record.get("text") or record.get("caption") or "")
                prefix = "🤖 " if name == who else f"📨 推送给{name}:"
                if record["method"] == "editMessageText":
                    prefix += "(改写上一条)"
                if record["method"] == "sendDocument":
                    prefix += f"[文件 {record['filename']}] "
                self.transcript.append(prefix + record["seen"].replace("\n", "\n   "))
                rows = (record.get("reply_markup") or {}).get("inline_keyboard", [])
                if rows:
                    self.transcript.append("   按钮:" + " | ".join(f"[{b['text']}]" for row in rows for b in row))
        return got

    def say(self, who: str, text: str, **others: int) -> dict[str, list[dict]]:
        return self._act(who, text, lambda: self.fake.push_text(USERS[who], text), {who: 1, **others})

    def press(self, who: str, record: dict, label: str, **others: int) -> dict[str, list[dict]]:
        buttons = [b for row in (record.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
        button = next((b for b in buttons if b["text"] == label), None)
        assert button is not None, f"no button {label!r} in {[b['text'] for b in buttons]}"
        return self._act(who, f"[按下“{label}”]",
                         lambda: self.fake.push_callback(USERS[who], button["callback_data"],
                                                         message_id=record["message_id"]),
                         {who: 1, **others})


def seen(records: list[dict]) -> list[str]:
    return [r["seen"] for r in records]


def labels(record: dict) -> list[str]:
    return [b["text"] for row in (record.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def telegram_bot(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'duban.sqlite3'}"
    else:
        reason = pg_unavailable()
        if reason:
            pytest.skip(reason)
        url = fresh_pg_database(f"duban_cycle_{os.getpid()}")
    fake = FakeTelegramAPI(token=TOKEN, bot_username="duban_bot", rate_limits=False).start_in_thread()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: '{url}'}}\n"
        f"data: {{out_dir: '{tmp_path / 'out'}'}}\n"
        f"telegram: {{token: '{TOKEN}', base_url: '{fake.base_url}/bot', poll_timeout: 1}}\n"
        "reminders: {tick_seconds: 3600, deliver_seconds: 0.5}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL")}
    subprocess.run([sys.executable, "run.py", "--config", str(config), "import", "data/diaozhuang-2025.yaml",
                    "data/demo-people.yaml"], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    process = subprocess.Popen([sys.executable, "run.py", "--config", str(config), "telegram", "--now", START],
                               cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        line = process.stdout.readline()
        assert "telegram bot ready @duban_bot" in line, process.stderr.read() if process.poll() is not None else line
        yield fake, url, process, request.param
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        fake.stop()
        if request.param == "postgres":
            drop_pg_database(url)


def test_whole_cycle_through_telegram(telegram_bot):
    fake, url, process, backend = telegram_bot
    run = TelegramCycle(fake)
    for name, code in INVITES.items():
        assert seen(run.say(name, f"/start {code}")[name]) == [
            f"绑定成功:{name}({BOUND_AS[name]})。\n试试:财政收入多少、/tasks mine、报进展。发 /help 看全部用法。"]

    # 交办: one line, then the [确定交办] button; the owner and the lead get [签收]
    [confirm] = run.say("陈主任", ASSIGN_LINE)["陈主任"]
    assert (confirm["seen"], labels(confirm)) == (CONFIRM, ["确定交办", "取消"])
    got = run.press("陈主任", confirm, "确定交办", 王干部=1, 李组长=1)
    assert seen(got["陈主任"]) == [ASSIGNED]
    assert seen(got["王干部"]) == seen(got["李组长"]) == [ASSIGN_PUSH]
    assert labels(got["王干部"][0]) == ["签收", "看事项"]

    # 签收 by the button on the push; the 交办人 is told
    got = run.press("王干部", got["王干部"][0], "签收", 陈主任=1)
    assert (seen(got["王干部"]), seen(got["陈主任"])) == ([SIGNED], [SIGNED_PUSH])

    # an update with 存在问题 and 下步计划 in one line
    assert seen(run.say("王干部", UPDATE_LINE)["王干部"]) == [UPDATED]

    # the lead opens the card and presses [催办]; the owner gets the push
    [card] = run.say("李组长", TASK)["李组长"]
    assert card["seen"] == CARD_BEFORE_URGE and labels(card) == ["报进展", "催办", "时间轴"]
    got = run.press("李组长", card, "催办", 王干部=1)
    assert (seen(got["李组长"]), seen(got["王干部"])) == ([URGED], [URGE_PUSH])
    assert labels(got["王干部"][0]) == ["报进展", "看事项"]

    # 批示 by the leader, pushed to the owner and the lead; the owner's 反馈 by the button
    got = run.say("陈主任", INSTRUCT_LINE, 王干部=1, 李组长=1)
    assert (seen(got["陈主任"]), seen(got["王干部"]), seen(got["李组长"])) == (
        [INSTRUCTED], [INSTRUCT_PUSH], [INSTRUCT_PUSH])
    asked = run.press("王干部", got["王干部"][0], "反馈")["王干部"]
    assert seen(asked) == [f"反馈:📌 {TASK}\n批示:春节前务必完工\n请写办理情况。(发“取消”退出)"]
    got = run.say("王干部", FEEDBACK, 陈主任=1)
    assert (seen(got["王干部"]), seen(got["陈主任"])) == ([FEEDBACK_DONE], [FEEDBACK_PUSH])

    # 延期 on a year-end target: the lead agrees, then the 分管领导
    assert seen(run.say("王干部", f"申请延期 {TASK}")["王干部"]) == [EXTEND_ASK_DATE]
    assert seen(run.say("王干部", "1月20日")["王干部"]) == [EXTEND_ASK_REASON]
    got = run.say("王干部", "雨季影响路面施工", 李组长=1)
    assert (seen(got["王干部"]), seen(got["李组长"])) == ([EXTEND_SENT], [EXTEND_PUSH_LEAD])
    got = run.press("李组长", got["李组长"][0], "同意延期", 陈主任=1, 王干部=1)
    assert (seen(got["李组长"]), seen(got["陈主任"]), seen(got["王干部"])) == (
        [LEAD_AGREED], [EXTEND_PUSH_LEADER], [EXTEND_PUSH_OWNER_STEP])
    got = run.press("陈主任", got["陈主任"][0], "同意延期", 王干部=1)
    assert (seen(got["陈主任"]), seen(got["王干部"])) == ([LEADER_AGREED], [EXTEND_PUSH_OWNER_DONE])

    # 100% → 待审核; the owner may not approve it; the lead presses [退回] and writes the reason
    got = run.say("王干部", DONE_LINE, 李组长=1)
    assert (seen(got["王干部"]), seen(got["李组长"])) == ([DONE_REPORTED], [REVIEW_PUSH])
    assert labels(got["李组长"][0]) == ["通过", "退回"]
    assert seen(run.say("王干部", f"通过 {TASK}")["王干部"]) == [NOT_YOURS_TO_REVIEW]
    asked = run.press("李组长", got["李组长"][0], "退回")["李组长"]
    assert seen(asked) == [RETURN_ASK]
    got = run.say("李组长", "缺竣工验收照片", 王干部=1)
    assert (seen(got["李组长"]), seen(got["王干部"])) == ([RETURNED], [RETURN_PUSH])
    assert seen(run.say("王干部", TASK)["王干部"]) == [CARD_RETURNED]

    # 100% again → the lead's [通过] → 已销号; a second approval is refused
    got = run.say("王干部", AGAIN_LINE, 李组长=1)
    assert (seen(got["王干部"]), seen(got["李组长"])) == ([AGAIN_REPORTED], [REVIEW_PUSH_AGAIN])
    got = run.press("李组长", got["李组长"][0], "通过", 王干部=1)
    assert (seen(got["李组长"]), seen(got["王干部"])) == ([APPROVED], [APPROVED_PUSH])
    assert seen(run.say("李组长", f"通过 {TASK}")["李组长"]) == [APPROVE_TWICE]
    assert "状态:已销号(审核通过)" in seen(run.say("王干部", f"/task {TASK}")["王干部"])[0]

    # the ranking: the lead sees the table with the team's row marked; the leader sees it plain
    [rank] = seen(run.say("李组长", "/rank")["李组长"])
    lines = rank.split("\n")
    assert (lines[0], "\n".join(lines[1:3]), lines[-1]) == (RANK_HEAD, RANK_MINE, RANK_RULE)
    [rank] = seen(run.say("陈主任", "排名")["陈主任"])
    assert rank.split("\n")[0] == RANK_HEAD and "\n".join(rank.split("\n")[1:3]) == RANK_LEADER_ROW

    # the 台账 as a file: downloaded from the fake and read with openpyxl
    sent = run.say("李组长", "/export 项目一专班", 李组长=2)["李组长"]
    assert [(s["method"], s["seen"]) for s in sent] == [("sendMessage", EXPORTED), ("sendDocument", "雕庄街道台账·项目一专班事项")], \
        [(s["method"], s["seen"]) for s in sent]
    sent = sent[1]
    stored = fake.files[sent["file_id"]]
    data = httpx.get(fake.file_url(stored.file_path), timeout=10).content
    assert data == stored.data and sent["filename"].endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    [row] = [dict(zip(header, r, strict=False)) for r in rows[1:] if TASK in r]
    assert {k: row[k] for k in LEDGER_ROW} == LEDGER_ROW

    check_database(url)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    assert "Traceback" not in process.stderr.read()
    # nothing else was sent: no stray push, no double answer
    assert len(fake.sent) == run.expected_total, [stable(s.get("text") or "") for s in fake.sent]

    if backend == "sqlite" and os.environ.get("DUBAN_WRITE_TRANSCRIPT") == "1":
        write_transcript_doc(run.transcript)
    print("\n" + "\n".join(run.transcript))


def write_transcript_doc(transcript: list[str]) -> None:
    """docs/cycle-transcript.md: the Telegram run and the demo data's ranking at 2026-01-05."""
    ranking = subprocess.run([sys.executable, "run.py", "console", "--demo", "--now", "2026-01-05T09:00",
                              "--as", "陈主任"], input="/rank\n", cwd=PROJECT_ROOT, capture_output=True,
                             text=True, timeout=120, check=True).stdout
    ranking = ranking[ranking.index("> /rank"):].strip()
    TRANSCRIPT_DOC.write_text(
        "# 督办全流程:一次真实运行的对话记录\n\n"
        "由 `tests/test_cycle_e2e.py` 生成(`DUBAN_WRITE_TRANSCRIPT=1 pytest tests/test_cycle_e2e.py -m slow -k telegram`):\n"
        "`python run.py telegram --now 2025-11-30T10:00` 作为真实进程,连到模拟的 Telegram Bot API,"
        "用报告数据和演示人员(陈主任=分管领导,李组长=项目一专班负责人,王干部=项目一专班干部),"
        "每人用邀请码绑定。时钟从10:00起走,分钟记作 10:0x。\n"
        "👤 是用户发的(或按的按钮),🤖 是机器人回给他的,📨 是同时推送给别人的。\n\n"
        "流程:交办 → 签收 → 报进展(存在问题、下步计划)→ 催办 → 批示 → 反馈 → 申请延期(年度目标:"
        "专班负责人同意后转分管领导)→ 报100%(待审核)→ 退回(写理由)→ 再报100% → 通过(已销号)→ 排名 → 导出台账。\n\n"
        "```text\n" + "\n".join(transcript) + "\n```\n\n"
        "## 演示数据在 2026-01-05 的专班考核排名\n\n"
        "`printf '/rank\\n' | python run.py console --demo --now 2026-01-05T09:00 --as 陈主任`:\n\n"
        "```text\n" + ranking + "\n```\n",
        encoding="utf-8")


# ---------------------------------------------------------------- WeCom (numbered choices)

WECOM_USERS = {"陈主任": "chenzr", "李组长": "lizz", "王干部": "wanggb"}


class WeComBot(Bot):
    """``python run.py serve`` with WeCom configured: template cards off (numbered choices),
    pushes delivered every half second, started on the cycle's Sunday."""

    def __init__(self, tmp_path: Path, api: FakeWeComAPI) -> None:
        super().__init__(tmp_path, api)
        config = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        config["wecom"]["use_template_cards"] = False
        config["reminders"] = {"tick_seconds": 3600, "deliver_seconds": 0.5}
        self.config.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        self.msg_ids = iter(range(9_300_000_000_000_000_001, 9_400_000_000_000_000_000))
        self.expected_total = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "run.py", "--config", str(self.config), "serve", "--port", str(self.port),
             "--now", START], cwd=PROJECT_ROOT, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        ready = threading.Event()

        def pump() -> None:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                self.output.append(line)
                if line.startswith("serving on"):
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        assert ready.wait(WAIT_S), "serve did not start:\n" + "".join(self.output)

    def say(self, http: httpx.Client, who: str, text: str, **others: int) -> dict[str, list[str]]:
        """Send ``text`` as ``who``; wait for the expected messages to each user (the actor:
        1 unless given); return what each saw (texts made stable; a file as <file NAME>)."""
        expect = {who: 1, **others}
        before = {name: self._count(name) for name in expect}
        inner = make_text_xml(CORP, WECOM_USERS[who], text, AGENT, msg_id=next(self.msg_ids))
        response = self.post(http, inner)
        assert (response.status_code, response.text) == (200, "")
        got = {}
        deadline = time.monotonic() + WAIT_S
        for name, n in expect.items():
            while self._count(name) < before[name] + n:
                assert time.monotonic() < deadline, (name, texts(self.api.sent[-5:]), "".join(self.output[-20:]))
                assert self.proc.poll() is None, "".join(self.output)
                time.sleep(0.05)
            got[name] = [self._seen(m) for m in self._mine(name)[before[name]:before[name] + n]]
            self.expected_total += n
        return got

    def _mine(self, name: str) -> list[dict]:
        return [m for m in self.api.sent if m["touser"] == WECOM_USERS[name]]

    def _count(self, name: str) -> int:
        return len(self._mine(name))

    def _seen(self, message: dict) -> str:
        if message["msgtype"] == "file":
            return f"<file {self.api.uploads[message['content']]['filename']}>"
        assert message["msgtype"] == "text", message
        return stable(message["content"])


def numbered(text: str, *labels: str) -> str:
    return text + "\n回复数字选择:\n" + "\n".join(f"{i}. {label}" for i, label in enumerate(labels, 1))


def listed(text: str, *labels: str) -> str:
    """A push's buttons, listed as plain labels (on WeCom without cards the words do the work)."""
    return text + "\n" + "\n".join(f"· {label}" for label in labels)


@pytest.fixture
def wecom_bot(tmp_path):
    api = FakeWeComAPI(corp_id=CORP, secret=SECRET, agent_id=AGENT, robot_keys={ROBOT_KEY})
    api.start_in_thread()
    bot = WeComBot(tmp_path, api)
    result = bot.run("import", "data/diaozhuang-2025.yaml", "data/demo-people.yaml")
    assert result.returncode == 0, result.stderr
    bot.start()
    yield bot
    bot.stop()
    api.stop()


def test_whole_cycle_through_wecom_callback(wecom_bot):
    bot = wecom_bot
    with httpx.Client(timeout=10) as http:
        for name, code in INVITES.items():
            assert bot.say(http, name, f"/start {code}")[name] == [
                f"绑定成功:{name}({BOUND_AS[name]})。\n试试:财政收入多少、/tasks mine、报进展。发 /help 看全部用法。"]

        # 交办 in one line, confirmed with the number of [确定交办]
        assert bot.say(http, "陈主任", ASSIGN_LINE)["陈主任"] == [numbered(CONFIRM, "确定交办", "取消")]
        got = bot.say(http, "陈主任", "1", 王干部=1, 李组长=1)
        assert got == {"陈主任": [ASSIGNED], "王干部": [listed(ASSIGN_PUSH, "签收", "看事项")],
                       "李组长": [listed(ASSIGN_PUSH, "签收", "看事项")]}

        # 签收 in words, as the push says
        assert bot.say(http, "王干部", f"签收 {TASK}", 陈主任=1) == {"王干部": [SIGNED], "陈主任": [listed(SIGNED_PUSH, "看事项")]}
        assert bot.say(http, "王干部", UPDATE_LINE)["王干部"] == [UPDATED]

        # the lead opens the card and picks 催办 by its number
        assert bot.say(http, "李组长", TASK)["李组长"] == [numbered(CARD_BEFORE_URGE, "报进展", "催办", "时间轴")]
        assert bot.say(http, "李组长", "2", 王干部=1) == {"李组长": [URGED],
                                                        "王干部": [listed(URGE_PUSH, "报进展", "看事项")]}

        # 批示 and 反馈
        got = bot.say(http, "陈主任", INSTRUCT_LINE, 王干部=1, 李组长=1)
        assert got == {"陈主任": [INSTRUCTED], "王干部": [listed(INSTRUCT_PUSH, "反馈", "看事项")],
                       "李组长": [listed(INSTRUCT_PUSH, "反馈", "看事项")]}
        assert bot.say(http, "王干部", f"反馈 {TASK} {FEEDBACK}", 陈主任=1) == {
            "王干部": [FEEDBACK_DONE], "陈主任": [listed(FEEDBACK_PUSH, "看事项")]}

        # 延期 on a year-end target: the lead, then the 分管领导, both in words
        assert bot.say(http, "王干部", f"申请延期 {TASK}")["王干部"] == [EXTEND_ASK_DATE]
        assert bot.say(http, "王干部", "1月20日")["王干部"] == [EXTEND_ASK_REASON]
        assert bot.say(http, "王干部", "雨季影响路面施工", 李组长=1) == {
            "王干部": [EXTEND_SENT], "李组长": [listed(EXTEND_PUSH_LEAD, "同意延期", "不同意")]}
        assert bot.say(http, "李组长", "同意延期 1", 陈主任=1, 王干部=1) == {
            "李组长": [LEAD_AGREED], "陈主任": [listed(EXTEND_PUSH_LEADER, "同意延期", "不同意")],
            "王干部": [EXTEND_PUSH_OWNER_STEP]}
        assert bot.say(http, "陈主任", "同意延期 1", 王干部=1) == {
            "陈主任": [LEADER_AGREED], "王干部": [EXTEND_PUSH_OWNER_DONE]}

        # 100% → 待审核 → 退回 (without a reason first: refused) → 100% → 通过 → 已销号
        assert bot.say(http, "王干部", DONE_LINE, 李组长=1) == {
            "王干部": [DONE_REPORTED], "李组长": [listed(REVIEW_PUSH, "通过", "退回")]}
        assert bot.say(http, "李组长", f"退回 {TASK}")["李组长"] == [
            f"退回要写理由,例如:退回 {TASK} 验收材料不全"]
        assert bot.say(http, "李组长", f"退回 {TASK} 缺竣工验收照片", 王干部=1) == {
            "李组长": [RETURNED], "王干部": [listed(RETURN_PUSH, "报进展")]}
        assert bot.say(http, "王干部", TASK)["王干部"] == [numbered(CARD_RETURNED, "报进展", "时间轴")]
        assert bot.say(http, "王干部", AGAIN_LINE, 李组长=1) == {
            "王干部": [AGAIN_REPORTED], "李组长": [listed(REVIEW_PUSH_AGAIN, "通过", "退回")]}
        assert bot.say(http, "李组长", f"通过 {TASK}", 王干部=1) == {"李组长": [APPROVED], "王干部": [APPROVED_PUSH]}

        # ranking and the 台账 file
        [rank] = bot.say(http, "李组长", "排名")["李组长"]
        lines = rank.split("\n")
        assert (lines[0], "\n".join(lines[1:3]), lines[-1]) == (RANK_HEAD, RANK_MINE, RANK_RULE)
        sent = bot.say(http, "李组长", "导出台账 项目一专班", 李组长=3)["李组长"]
        assert sent[:2] == [EXPORTED, "雕庄街道台账·项目一专班事项"]
        assert sent[2].startswith("<file ledger-20251130-10") and sent[2].endswith(".xlsx>"), sent
        [upload] = [u for u in bot.api.uploads.values() if u["filename"].endswith(".xlsx")]
        sheet = openpyxl.load_workbook(io.BytesIO(upload["data"])).worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        [row] = [dict(zip(rows[0], r, strict=False)) for r in rows[1:] if TASK in r]
        assert {k: row[k] for k in LEDGER_ROW} == LEDGER_ROW

    check_database(f"sqlite:///{bot.db}")
    time.sleep(1.0)
    assert len(bot.api.sent) == bot.expected_total, texts(bot.api.sent)
    bot.stop()
    assert bot.proc.returncode == 0 and "Traceback" not in "".join(bot.output)
