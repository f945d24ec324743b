"""Run the message corpus (tests/corpus/messages.yaml) through the handlers and judge each
answer against its expected outcome — what the user sees and what the database holds.

Shared by tests/test_corpus.py and bench/nlu_bench.py. Each message runs in its own chat
(so follow-ups see only their own context). An entry's ``setup`` (messages sent first, by the
same or another user, in their own chats — e.g. a cadre reports 100% so there is something to
review) runs before it. After a message that changed something, the database is put back
(tasks, updates, timeline, 批示, pushes, new tasks), so messages do not disturb each other.

The 督办-cycle intents are judged on the real outcome: a command word acts at once (its reply
and the row it wrote); free text asks first ("将催办:…?" naming the task, person or text) and
records nothing until [确定], which then does it. ``refused`` in an entry's expect: the right
answer for the demo data is that refusal, and nothing changes.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import delete, func, select, update

from bot.app import Duban
from bot.db import TASKS_VERSION_KEY, meta_version
from bot.messages import Incoming, Reply
from bot.models import (
    Instruction,
    MetaEntry,
    Milestone,
    OutboxMessage,
    Person,
    Task,
    TaskEvent,
    TaskUpdate,
    Team,
)
from bot.services import people as people_service
from bot.services.lookup import bump_names_version
from bot.services.outbox_store import push
from handlers.core import handle, parse_command
from tests.corpus import entries

#: rows added by a message and removed again by ``Runner.restore`` (newest first: children)
ADDED = (Instruction, TaskEvent, OutboxMessage, TaskUpdate, Milestone)
CYCLE = ("urge", "instruct", "review", "assign")

LIST_TITLES = {
    "red": "红灯事项", "yellow": "黄灯事项", "green": "绿灯事项", "overdue": "逾期事项",
    "due_week": "本周内到期", "due_next_week": "下周到期", "mine": "我的事项", "team": "事项",
    "unreported": "未报进展", "behind": "落后序时进度", "awaiting_review": "待审核事项",
    "unsigned": "未签收", "pending_extension": "延期申请", "done": "已完成事项",
}


@dataclass
class Outcome:
    entry: dict
    ok: bool
    answer: str
    why: str = ""
    ms: float = 0.0


class Runner:
    def __init__(self, app: Duban) -> None:
        self.app = app
        self.count = 0
        with app.sessions.begin() as session:
            self.people = {p.name: p.id for p in session.scalars(select(Person))}
            self.tasks = {t.name: t.id for t in session.scalars(select(Task))}
            columns = [c.key for c in Task.__table__.columns if c.key != "id"]
            self.snapshot = {row.id: {c: getattr(row, c) for c in columns} for row in session.scalars(select(Task))}
            self.baseline = self.before = self._marks(session)
            for name in self.people:  # bind every demo person to the console channel
                person = session.scalar(select(Person).where(Person.name == name))
                people_service.bind_identity(session, app.clock.now(), person, "console", name, name, name)

    def send(self, user: str, chat: str, text: str = "", callback: Optional[str] = None) -> list[Reply]:
        self.count += 1
        return handle(self.app, Incoming(channel="console", chat_id=chat, user_id=user, text=text,
                                         callback_data=callback, user_name=user,
                                         message_ref=f"corpus:{self.count}"))

    def updates(self) -> int:
        with self.app.sessions() as session:
            return session.scalar(select(func.count()).select_from(TaskUpdate)) or 0

    @staticmethod
    def _marks(session) -> dict:
        """The highest id per table a message may add to, and the tasks' version: what changed."""
        marks = {model.__tablename__: session.scalar(select(func.max(model.id))) or 0 for model in (*ADDED, Task)}
        marks["tasks_version"] = meta_version(session, TASKS_VERSION_KEY)
        return marks

    def changed(self) -> bool:
        """Something changed since the message was sent (after its setup)."""
        with self.app.sessions() as session:
            return self._marks(session) != self.before

    def dirty(self) -> bool:
        with self.app.sessions() as session:
            return self._marks(session) != self.baseline

    def restore(self) -> None:
        with self.app.sessions.begin() as session:
            new_tasks = select(Task.id).where(Task.id > self.baseline["tasks"])
            for model in ADDED:
                session.execute(delete(model).where((model.id > self.baseline[model.__tablename__])
                                                    | model.task_id.in_(new_tasks)))
            session.execute(delete(Task).where(Task.id > self.baseline["tasks"]))
            for tid, values in self.snapshot.items():
                session.execute(update(Task).where(Task.id == tid).values(**values))
            bump_names_version(session)
            version = int(meta_version(session, TASKS_VERSION_KEY)) + 1  # cached lists expire
            session.execute(update(MetaEntry).where(MetaEntry.key == TASKS_VERSION_KEY).values(value=str(version)))
        with self.app.sessions() as session:
            self.baseline = self.before = self._marks(session)  # the version moved while putting back

    def give_reminder(self, user: str) -> None:
        """A sent reminder to snooze (the snooze messages need one)."""
        with self.app.sessions.begin() as session:
            now = self.app.clock.now()
            key = f"corpus-reminder-{user}-{self.count}"
            push(session, now - timedelta(minutes=5), key, "deadline", self.people[user], "🔔 纳图电气 请报进展")
            session.execute(update(OutboxMessage).where(OutboxMessage.dedupe_key == key).values(
                status="sent", sent_at=now - timedelta(minutes=4)))

    def run(self, index: int, entry: dict) -> Outcome:
        user = entry["user"]
        chat = f"{user}#{index}"
        for step_no, step in enumerate(entry.get("setup", [])):
            step = step if isinstance(step, dict) else {"text": step}
            who = step.get("user", user)
            self.send(who, f"{who}#setup{index}.{step_no}", step["text"])
        before = self.updates()
        with self.app.sessions() as session:
            self.before = self._marks(session)
        for text in entry.get("context", []):
            self.send(user, chat, text)
        intent = entry["intent"]
        expect = dict(entry.get("expect") or {})
        if intent == "followup":
            intent = expect.pop("resolves")
        if intent == "snooze":
            self.give_reminder(user)
        if intent == "page" and not entry.get("context"):
            self.send(user, chat, "/tasks")  # a list to page through
            if expect.get("page") == "prev":
                self.send(user, chat, "下一页")
        start = time.perf_counter()
        replies = self.send(user, chat, entry["text"])
        ms = (time.perf_counter() - start) * 1000
        answer = "\n".join(r.text for r in replies)
        labels = [b.label for r in replies for row in r.buttons for b in row]
        self.text = entry["text"]
        try:
            why = self.judge(intent, expect, answer, labels, replies, user, chat, before,
                             tuple(entry.get("context", [])))
        finally:
            if self.dirty():
                self.restore()
        return Outcome(entry, why == "", answer, why, ms)

    def judge(self, intent: str, expect: dict, answer: str, labels: list[str], replies: list[Reply],
              user: str, chat: str, before: int, entry_context: tuple = ()) -> str:
        """'' when the answer is right, else why not."""
        shown = answer + "\n" + "\n".join(labels)
        if intent == "ambiguous":
            if self.updates() != before or self.changed() and "确定" not in labels and "请写" not in answer:
                return "recorded although unclear"
            if not any(mark in answer for mark in ("?", "?", "请写", "请给", "请发")):
                return "did not ask back"
            for name in expect.get("candidates", []):
                if name not in shown:
                    return f"candidate {name} not offered"
            return ""
        if intent in ("indicator_query", "indicator_compare"):
            for key in ("indicator", "figure"):
                if key in expect and str(expect[key]) not in answer:
                    return f"{key} {expect[key]} missing"
            also = expect.get("also") or {}
            for key in ("indicator", "figure"):
                if key in also and str(also[key]) not in answer:
                    return f"also {also[key]} missing"
            if expect.get("label") and expect["label"] not in answer:
                return "not labelled 推算"
            return ""
        if intent == "task_card":
            first = answer.split("\n", 1)[0]
            return "" if first.partition(" ")[2].startswith(expect["task"] + "【") else "no card of " + expect["task"]
        if intent == "update":
            task_id = self.tasks.get(expect.get("task")) if expect.get("task") else None
            direct = answer.startswith("✅ 已记录")  # a command naming the task exactly records at once
            if "确定" not in labels and not direct:
                with self.app.sessions() as session:
                    task = session.get(Task, task_id) if task_id else None
                    person = session.scalar(select(Person).where(Person.name == user))
                    if task is not None and not people_service.can_update(person, task) and \
                            task.name in answer and "不属于你的专班" in answer:
                        return ""  # understood; the person may not report on another team's task
                return "no proposal: " + answer[:60]
            if not direct and expect.get("task") and f"记为:{expect['task']}" not in answer:
                return "proposed another task"
            if not direct and "progress" in expect and f" {expect['progress']}%" not in answer.split("\n")[0]:
                return f"progress {expect['progress']} not proposed"
            if not direct and "progress" not in expect and not entry_context and "%" in answer.split(",")[0]:
                return "a progress figure was proposed"
            done = replies if direct else self._press(replies, "确定", user, chat)
            text = "\n".join(r.text for r in done)
            if "✅ 已记录" not in text:
                return "not recorded after 确定: " + text[:60]
            with self.app.sessions() as session:
                row = session.scalars(select(TaskUpdate).order_by(TaskUpdate.id.desc())).first()
            if task_id and row.task_id != task_id:
                return "recorded on another task"
            if "progress" in expect and row.progress != expect["progress"]:
                return f"recorded {row.progress}"
            for key, column in (("note", "note"), ("problem", "problems"), ("next_step", "next_steps")):
                if key in expect and expect[key] not in (getattr(row, column) or ""):
                    return f"{key} not recorded: {getattr(row, column)!r}"
            return ""
        if intent == "list":
            which = expect["filter"]
            if which.startswith("due_days:"):
                title = f"{which.split(':')[1]}天内到期"
            elif which.startswith("team:"):
                title = which.split(":")[1]
            else:
                title = LIST_TITLES[which]
            first = answer.split("\n")[0] if answer else ""
            if title not in first and not (which in ("awaiting_review", "unsigned") and title in answer):
                return f"not the {which} list: {first[:40]}"
            if expect.get("count") and "一共" not in first:
                return "no count"
            return ""
        if intent == "page":
            page = expect["page"]
            number = {"next": None, "prev": 1}.get(page, page)
            if number is None:
                return "" if "第2/" in answer or "第3/" in answer or "已经是最后一页" in answer else "not the next page"
            return "" if f"第{number}/" in answer else f"not page {number}"
        if intent == "team_summary":
            if not answer.startswith(f"【{expect['team']}】"):
                return "no team summary"
            return "" if "考核排名:第" in answer else "no ranking position"
        if intent == "my_day":
            return "" if answer.startswith("📅") else "no day summary"
        if intent == "help":
            return "" if "怎么说都行" in answer or "督办助手用法" in answer else "no help"
        if intent == "remind_settings":
            setting = expect["setting"]
            setting = {False: "off", True: "on"}.get(setting, setting) if isinstance(setting, bool) else setting
            if setting == "off":
                return "" if "已关闭提醒" in answer else "not switched off"
            if setting == "on":
                return "" if "提醒已开启" in answer else "not switched on"
            if "time" in setting:
                return "" if f"提醒时间改为 {setting['time']}" in answer else "time not set"
            return "" if "周末" in answer else "days not answered"
        if intent == "snooze":
            until = datetime.fromisoformat(expect["until"])
            return "" if f"{until:%m-%d %H:%M} 再提醒你" in answer else "wrong snooze time"
        if intent == "extend":
            if "不属于你的专班" in answer and expect["task"] in answer and self.updates() == before:
                return ""  # understood; the person may not ask for another team's task
            task_ok = expect["task"] in answer
            date_ok = expect["date"] in answer
            return "" if task_ok and date_ok else "extension not understood"
        if intent == "ranking":
            return self._judge_ranking(expect, answer, user)
        if intent in CYCLE:
            return self._judge_act(intent, expect, answer, labels, replies, user, chat)
        return "unknown intent " + intent

    def _judge_ranking(self, expect: dict, answer: str, user: str) -> str:
        if expect.get("what") == "tasks":
            return "" if answer.startswith("落后序时进度") else "not the slowest tasks"
        if not answer.startswith(("🏆 专班考核排名", "项目", "招商")) or "🏆 专班考核排名" not in answer:
            return "no ranking: " + answer[:40]
        teams = re.findall(r"^👉?\d+\. (\S+) [\d.-]+分$", answer, re.M)
        if not teams:
            return "no team rows"
        kind = expect.get("filter")
        if kind and any(not t.startswith(kind.removesuffix("专班")) for t in teams):
            return f"not only {kind}"
        with self.app.sessions() as session:
            person = session.scalar(select(Person).where(Person.name == user))
            own = session.get(Team, person.team_id) if person.role == "team_lead" and person.team_id else None
        if own is not None and own.name in teams and "👉" not in answer:
            return "own team not marked"
        return ""

    def _pushes(self, task_id: Optional[int] = None) -> list[OutboxMessage]:
        with self.app.sessions() as session:
            query = select(OutboxMessage).where(OutboxMessage.id > self.before["outbox"])
            if task_id is not None:
                query = query.where(OutboxMessage.task_id == task_id)
            return list(session.scalars(query))

    def _judge_act(self, intent: str, expect: dict, answer: str, labels: list[str], replies: list[Reply],
                   user: str, chat: str) -> str:
        """催办 / 批示 / 审核 / 交办: a command acts at once; free text asks, then 确定 acts."""
        if "refused" in expect:
            if expect["refused"] not in answer:
                return "not refused: " + answer[:60]
            return "changed although refused" if self.changed() or "确定" in labels else ""
        command = parse_command(self.text) is not None
        task = expect.get("task")
        if "确定" in labels:
            if command and (not task or task in self.text):
                return "a command naming its task asked instead of acting"  # no name: the topic's task is asked
            if self.changed():
                return "recorded before 确定"
            question = answer.split("\n")[0]
            word = {"urge": "将催办", "instruct": "将批示", "assign": "将交办",
                    "review": "将退回" if expect.get("decision") == "退回" else "将审核通过"}[intent]
            if not question.startswith(word):
                return f"asked {question[:30]} instead of {word}"
            for key in ("task", "person", "text", "reason", "name", "team", "owner", "deadline"):
                if key in expect and str(expect[key]) not in question:
                    return f"{key} {expect[key]} not in the question"
            done = "\n".join(r.text for r in self._press(replies, "确定", user, chat))
        elif command or intent == "review" and answer.startswith(("✅", "↩️")):
            done = answer
        else:
            return "did not ask before acting: " + answer[:60]
        return self._check_done(intent, expect, done, task)

    def _check_done(self, intent: str, expect: dict, done: str, task_name: Optional[str]) -> str:
        with self.app.sessions() as session:
            task = session.scalar(select(Task).where(Task.name == task_name)) if task_name else None
            if intent == "urge":
                if not done.startswith("📣"):
                    return "not urged: " + done[:60]
                if task is not None and (task.urge_count or 0) != (self.snapshot[task.id]["urge_count"] or 0) + 1:
                    return "urge not counted"
                pushes = [p for p in self._pushes(task.id if task else None) if p.kind == "urge"]
                if not pushes:
                    return "nobody was told"
                if expect.get("person") and expect["person"] not in done:
                    return f"{expect['person']} not urged"
                return ""
            if intent == "instruct":
                if not done.startswith(f"✅ 批示已记录:{task_name}"):
                    return "no 批示: " + done[:60]
                rows = session.scalars(select(Instruction).where(Instruction.id > self.before["instructions"])).all()
                if len(rows) != 1 or rows[0].task_id != task.id or expect["text"] not in rows[0].text:
                    return f"批示 row wrong: {[(r.task_id, r.text) for r in rows]}"
                return ""
            if intent == "review":
                returned = expect.get("decision") == "退回"
                head = "↩️ 已退回:" if returned else "✅ 已审核通过:"
                if not done.startswith(head + (task_name or "")):
                    return "not decided: " + done[:60]
                if task is not None:
                    if task.review_status != ("returned" if returned else "approved"):
                        return f"review_status {task.review_status}"
                    if returned and expect.get("reason", "") not in (task.return_reason or ""):
                        return f"reason {task.return_reason!r}"
                return ""
            if not done.startswith(f"✅ 已交办:{expect['name']}"):
                return "not assigned: " + done[:60]
            row = session.scalar(select(Task).where(Task.name == expect["name"]))
            if row is None:
                return "no task row"
            if expect.get("deadline") and row.deadline.isoformat() != expect["deadline"]:
                return f"deadline {row.deadline}"
            if expect.get("team") and (row.team is None or row.team.name != expect["team"]):
                return "team wrong"
            if expect.get("owner") and (row.owner is None or row.owner.name != expect["owner"]):
                return "owner wrong"
            return ""

    def _press(self, replies: list[Reply], label: str, user: str, chat: str) -> list[Reply]:
        for reply in replies:
            for row in reply.buttons:
                for button in row:
                    if button.label == label:
                        return self.send(user, chat, callback=button.data)
        return []


def run_all(app: Duban) -> list[Outcome]:
    runner = Runner(app)
    return [runner.run(i, entry) for i, entry in enumerate(entries())]


def rates(outcomes: list[Outcome]) -> dict[str, tuple[int, int]]:
    by_role: dict[str, tuple[int, int]] = {}
    for o in outcomes:
        ok, total = by_role.get(o.entry["role"], (0, 0))
        by_role[o.entry["role"]] = (ok + o.ok, total + 1)
    return by_role
