"""Run the message corpus (tests/corpus/messages.yaml) through the handlers and judge each
answer against its expected outcome — what the user sees and what the database holds.

Shared by tests/test_corpus.py and bench/nlu_bench.py. Each message runs in its own chat
(so follow-ups see only their own context); after a message that recorded something the
tasks are put back, so messages do not disturb each other.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import delete, func, select, update

from bot.app import Duban
from bot.messages import Incoming, Reply
from bot.models import OutboxMessage, Person, Task, TaskUpdate
from bot.services import people as people_service
from bot.services.outbox_store import push
from handlers import handle
from tests.corpus import entries

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
            self.snapshot = {t.id: (t.progress, t.status, t.last_update_at, t.last_activity_at, t.stale_on)
                             for t in session.scalars(select(Task))}
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

    def restore(self) -> None:
        with self.app.sessions.begin() as session:
            session.execute(delete(TaskUpdate))
            for tid, (progress, status, last_update, last_activity, stale) in self.snapshot.items():
                session.execute(update(Task).where(Task.id == tid).values(
                    progress=progress, status=status, last_update_at=last_update,
                    last_activity_at=last_activity, stale_on=stale, problems=None, next_steps=None))

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
        before = self.updates()
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
        try:
            why = self.judge(intent, expect, answer, labels, replies, user, chat, before,
                             tuple(entry.get("context", [])))
        finally:
            if self.updates() != before:
                self.restore()
        return Outcome(entry, why == "", answer, why, ms)

    def judge(self, intent: str, expect: dict, answer: str, labels: list[str], replies: list[Reply],
              user: str, chat: str, before: int, entry_context: tuple = ()) -> str:
        """'' when the answer is right, else why not."""
        shown = answer + "\n" + "\n".join(labels)
        if intent == "ambiguous":
            if self.updates() != before:
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
            return "" if answer.startswith(f"【{expect['team']}】") else "no team summary"
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
        if intent in ("urge", "instruct", "review", "assign", "ranking"):
            marks = {"urge": "催办", "instruct": "批示", "review": "审核", "assign": "交办", "ranking": "排名"}
            if not answer.startswith("已听懂:" + marks[intent]):
                return "not understood as " + intent
            for key in ("task", "person", "text", "decision", "reason", "name", "owner", "team", "deadline"):
                if key in expect and str(expect[key]) not in answer:
                    return f"{key} {expect[key]} missing"
            return ""
        return "unknown intent " + intent

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
