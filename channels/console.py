"""Console channel: chat with the bot in a terminal, or replay a script through stdin.

At a terminal it is interactive. When stdin is not a terminal it prints a transcript: each
input line as ``> line``, then the replies, then a blank line, and exits at end of input.
Buttons become numbered choices (type the number). Files are written under ``var/out/`` and
their paths printed. There is no logic here: the same handlers serve every channel.
"""
from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from typing import Optional, TextIO

from sqlalchemy import select

from bot.app import Duban
from bot.messages import Incoming, Reply
from bot.models import Person
from bot.notify import NotifierRouter
from bot.services.errors import NotFound
from bot.services.people import ROLE_WORDS, bind_identity
from handlers.core import handle
from jobs.outbox import ReminderRunner

CHANNEL = "console"


def pick_person(app: Duban, who: Optional[str]) -> Person:
    """--as: a role word picks the first person with that role, else a name; default an admin."""
    with app.sessions.begin() as session:
        query = select(Person).where(Person.active.is_(True)).order_by(Person.id)
        if who is None:
            person = session.scalar(query.where(Person.is_admin.is_(True))) or session.scalar(query)
        elif who in ROLE_WORDS:
            person = session.scalar(query.where(Person.role == ROLE_WORDS[who], Person.is_admin.is_(False))) \
                or session.scalar(query.where(Person.role == ROLE_WORDS[who]))
        else:
            person = session.scalar(query.where(Person.name == who))
        if person is None:
            raise NotFound(f"没有找到“{who}”。可用 leader / team_lead / cadre 或人员姓名。"
                           if who else "数据库里还没有人员。请先导入:python run.py import data/demo-people.yaml")
        bind_identity(session, app.clock.now(), person, CHANNEL, person.name, person.name, person.name)
        session.expunge(person)
        return person


def render(reply: Reply) -> str:
    parts = []
    if reply.text:
        parts.append(reply.text)
    for out_file in reply.files:
        caption = f"{out_file.caption}:" if out_file.caption else ""
        parts.append(f"[{'图片' if out_file.kind == 'photo' else '文件'}] {caption}{out_file.path}")
    return "\n".join(parts)


class ConsoleChat:
    def __init__(self, app: Duban, person: Person, out: Optional[TextIO] = None) -> None:
        self.app = app
        self.person = person
        self.out = out or sys.stdout
        self.counter = 0

    def send(self, text: str) -> list[Reply]:
        self.counter += 1
        msg = Incoming(channel=CHANNEL, chat_id=self.person.name, user_id=self.person.name,
                       text=text, user_name=self.person.name, buttons_supported=False)
        return handle(self.app, msg)

    def show(self, replies: Iterable[Reply]) -> None:
        for reply in replies:
            text = render(reply)
            if text:
                print(text, file=self.out)

    def transcript(self, lines: Iterable[str]) -> None:
        for line in lines:
            line = line.rstrip("\n")
            print(f"> {line}", file=self.out)
            self.show(self.send(line))
            print(file=self.out)
            self.out.flush()

    def interactive(self) -> None:
        print(f"督办助手 · {self.app.config.office} · 以“{self.person.name}”身份 · "
              f"时间 {self.app.clock.now():%Y-%m-%d %H:%M}\n发 /help 看用法,Ctrl-D 退出。", file=self.out)
        while True:
            try:
                line = input("> ")
            except (EOFError, KeyboardInterrupt):
                print(file=self.out)
                return
            if line.strip() in ("exit", "quit", "退出"):
                return
            self.show(self.send(line))


class ConsoleNotifier:
    """Pushes (reminders, digests) printed to the terminal, addressed by person name.

    Buttons are shown as [labels]; on the console the same actions are typed as words
    (报进展, 延期 事项名, 稍后提醒 1小时, 同意延期 编号)."""

    can_send_photos = True  # printed as the file's path

    def __init__(self, out: Optional[TextIO] = None) -> None:
        self.out = out or sys.stdout
        self.sent: list[tuple[str, Reply]] = []

    async def send(self, person_name: str, reply: Reply, max_wait: Optional[float] = None) -> None:
        self.sent.append((person_name, reply))
        labels = " ".join(f"[{b.label}]" for row in reply.buttons for b in row)
        text = render(reply) + (f"\n{labels}" if labels else "")
        print(f"[提醒 → {person_name}]\n{text}\n", file=self.out)
        self.out.flush()


def show_due_pushes(app: Duban, out: Optional[TextIO] = None) -> int:
    """Console demo: record what is due at the clock's now and print it (every channel's
    pushes go to the terminal). Returns how many were printed."""

    out = out or sys.stdout
    notifier = ConsoleNotifier(out)
    router = NotifierRouter()
    router.register(CHANNEL, notifier)
    runner = ReminderRunner(app, router, worker="console-demo")
    new = runner.tick()
    print(f"—— {app.clock.now():%Y-%m-%d %H:%M} 到点的提醒和摘要:{len(new)}条 ——", file=out)
    asyncio.run(runner.deliver_all())
    later: dict[str, int] = {}
    for due in runner.later_today():
        later[f"{due.due_at:%H:%M}"] = later.get(f"{due.due_at:%H:%M}", 0) + 1
    for moment, count in sorted(later.items()):
        print(f"今天稍后:{moment} 还有 {count} 条提醒(到点推送)", file=out)
    print("—— 以上为推送,下面开始对话 ——\n", file=out)
    out.flush()
    return len(notifier.sent)
