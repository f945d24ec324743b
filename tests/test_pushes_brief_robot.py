"""Where the reminders meet the brief and the channels: the leaders' weekly brief job sends
the same brief as /brief (text, plus the picture drawn at send time; WeCom gets the text
card only), and a team's daily digest also goes to its WeCom group robot.

Real database (SQLite; PostgreSQL where the test takes ``app``), real runner; only the
transport is faked (a recorder, or the fake WeCom server with the real robot notifier).
"""
from __future__ import annotations

import asyncio
import io
import struct
from datetime import date
from pathlib import Path

from sqlalchemy import select

from bot.clock import parse_now
from bot.models import OutboxMessage, Person, Task, Team
from bot.notify import NotifierRouter
from bot.services import reminder_rules, reports
from bot.services.lights import refresh_light_dates
from bot.services.people import bind_identity
from channels.console import ConsoleNotifier
from channels.wecom.notifier import WeComRobotNotifier
from channels.wecom.robot import RobotSender
from jobs.outbox import ReminderRunner
from testing.fake_wecom import FakeWeComAPI
from tests.conftest import make_app
from tests.test_reminders import Recorder, add_task, on_schedule, run_at

ROBOT_KEY = "robot-key-xm1-0001"


def png_size(path: str) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    head = Path(path).read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def fresh_since(app, when: str) -> None:
    """Every task as if reported at ``when`` (so only the tests' own tasks are urgent)."""
    app.clock.set(parse_now(when))
    with app.sessions.begin() as session:
        for task in session.scalars(select(Task)):
            task.last_activity_at = app.clock.now()
            on_schedule(task, app.clock.now().date())
            refresh_light_dates(task, app.config.lights)


def brief_rows(app) -> list[OutboxMessage]:
    with app.sessions() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "brief")
                                    .order_by(OutboxMessage.id)))


# ---------------------------------------------------------------- the weekly brief

def test_weekly_brief_job_sends_the_brief_text_and_picture(app):
    fresh_since(app, "2025-12-01T00:00")
    add_task(app, "red", date(2025, 12, 5))
    with app.sessions.begin() as session:  # 陈主任 reads on WeCom: the text card only
        chen = session.scalar(select(Person).where(Person.name == "陈主任"))
        bind_identity(session, app.clock.now(), chen, "wecom", "chen", "chen", "陈主任")
    console, wecom = Recorder(), Recorder(can_send_photos=False)
    router = NotifierRouter()
    router.register("console", console)
    router.register("wecom", wecom)
    runner = ReminderRunner(app, router, worker="t")

    run_at(app, runner, "2025-12-08T08:30")  # Monday
    with app.sessions() as session:
        expected = reports.weekly_brief(session, app.clock.now(), app.config).as_text()
    assert expected.startswith("📊 雕庄街道督办周报(12-01~12-08)") and "测试事项red" in expected
    zhang = [r for c, r in console.sent if "督办周报" in r.text]
    assert [c for c, r in console.sent if "督办周报" in r.text] == ["张主任"]
    assert zhang[0].text == expected
    [picture] = zhang[0].files
    assert picture.kind == "photo" and picture.caption == "雕庄街道督办周报"
    assert Path(picture.path).parent == app.out_dir and png_size(picture.path)[0] == 1080
    chen_briefs = [r for c, r in wecom.sent if "督办周报" in r.text]
    assert [c for c, r in wecom.sent if "督办周报" in r.text] == ["chen"]
    assert chen_briefs[0].text == expected and chen_briefs[0].files == []
    rows = brief_rows(app)
    assert len(rows) == 2 and {r.status for r in rows} == {"sent"}
    assert all(r.payload["text"] == expected for r in rows)

    # later ticks that day and the next day: no second brief
    run_at(app, runner, "2025-12-08T09:00")
    run_at(app, runner, "2025-12-09T08:30")
    assert len([1 for c, r in console.sent + wecom.sent if "督办周报" in r.text]) == 2


def test_console_notifier_prints_the_brief_picture_path(sqlite_app):
    app = sqlite_app
    fresh_since(app, "2025-12-01T00:00")
    add_task(app, "red", date(2025, 12, 5))
    out = io.StringIO()
    router = NotifierRouter()
    router.register("console", ConsoleNotifier(out))
    run_at(app, ReminderRunner(app, router, worker="t"), "2025-12-08T08:30")
    printed = out.getvalue()
    assert "[提醒 → 张主任]\n📊 雕庄街道督办周报" in printed
    line = next(line for line in printed.splitlines() if line.startswith("[图片] 雕庄街道督办周报:"))
    assert png_size(line.split(":", 1)[1])[0] == 1080


def test_a_brief_sent_late_is_the_current_one(sqlite_app):
    app = sqlite_app
    fresh_since(app, "2025-12-01T00:00")
    runner = ReminderRunner(app, NotifierRouter(), worker="t")  # no channel running yet
    app.clock.set(parse_now("2025-12-08T08:30"))
    runner.tick()
    assert len(brief_rows(app)) == 2
    add_task(app, "late", date(2025, 12, 5))  # turned red before the brief went out
    rec = Recorder()
    runner.notifiers.register("console", rec)
    app.clock.set(parse_now("2025-12-08T14:00"))
    asyncio.run(runner.deliver_all())
    texts = [r.text for c, r in rec.sent if "督办周报" in r.text]
    assert len(texts) == 2 and all(t.startswith("(补发)📊 雕庄街道督办周报") for t in texts)
    assert all("测试事项late" in t for t in texts)
    assert all(png_size(r.files[0].path)[0] == 1080 for c, r in rec.sent if "督办周报" in r.text)


def test_no_brief_when_there_is_nothing_to_say(tmp_path, clock):
    app = make_app(f"sqlite:///{tmp_path / 'people-only.sqlite3'}", tmp_path, clock, load=False)
    with app.sessions.begin() as session:  # a leader and a team; no tasks, no indicators
        session.add(Team(code="xm1", name="项目一专班", robot_key=ROBOT_KEY))
        session.add(Person(name="张主任", role="leader", created_at=clock.now()))
    rec = Recorder()
    router = NotifierRouter()
    router.register("console", rec)
    router.register("wecom_robot", rec)
    run_at(app, ReminderRunner(app, router, worker="t"), "2025-07-21T08:30")  # a Monday
    assert rec.sent == [] and brief_rows(app) == []
    with app.sessions() as session:
        assert session.scalars(select(OutboxMessage)).all() == []


# ---------------------------------------------------------------- team digests to the group robot

def set_robot(app, team_code: str, key: str) -> int:
    with app.sessions.begin() as session:
        team = session.scalar(select(Team).where(Team.code == team_code))
        team.robot_key = key
        return team.id


def test_team_digest_also_goes_to_the_team_robot(app):
    fresh_since(app, "2025-12-01T00:00")
    add_task(app, "late", date(2025, 12, 5))
    xm1 = set_robot(app, "xm1", ROBOT_KEY)
    set_robot(app, "zs1", "robot-key-zs1-0002")  # 周组长's team has nothing urgent: nothing sent

    async def main():
        async with FakeWeComAPI(robot_keys={ROBOT_KEY, "robot-key-zs1-0002"}) as api:
            robot = RobotSender(api.base_url)
            try:
                rec = Recorder()
                router = NotifierRouter()
                router.register("console", rec)
                router.register("wecom_robot", WeComRobotNotifier(robot))
                runner = ReminderRunner(app, router, worker="t")
                for moment in ("2025-12-09T08:30", "2025-12-09T08:31", "2025-12-09T09:00"):
                    app.clock.set(parse_now(moment))
                    runner.tick()
                    await runner.deliver_all()
                return rec, list(api.robot_sent)
            finally:
                await robot.aclose()

    rec, robot_sent = asyncio.run(main())
    [lead_digest] = [r.text for c, r in rec.sent if c == "李组长" and r.text.startswith("📋")]
    assert "测试事项late" in lead_digest
    assert [(m["key"], m["msgtype"], m["content"]) for m in robot_sent] == [(ROBOT_KEY, "text", lead_digest)]
    with app.sessions() as session:
        [row] = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == reminder_rules.ROBOT_DIGEST)).all()
    assert (row.dedupe_key, row.person_id, row.channel, row.chat_id, row.status) == (
        f"digest-robot:{xm1}:2025-12-09", None, "wecom_robot", ROBOT_KEY, "sent")


def test_robot_digest_catch_up_and_without_a_robot_channel(sqlite_app):
    app = sqlite_app
    fresh_since(app, "2025-12-01T00:00")
    add_task(app, "old", date(2025, 12, 5))
    set_robot(app, "xm1", ROBOT_KEY)
    robot = Recorder()
    router = NotifierRouter()
    router.register("console", Recorder())
    router.register("wecom_robot", robot)
    runner = ReminderRunner(app, router, worker="t")
    # down from Monday 00:00 to Tuesday 14:00: Monday's digest is not replayed, today's is late
    run_at(app, runner, "2025-12-08T00:00")
    run_at(app, runner, "2025-12-09T14:00")
    assert [(c, r.text.splitlines()[0]) for c, r in robot.sent] == [(ROBOT_KEY, "(补发)📋 项目一专班今日督办(12月9日)")]
    # recorded this morning, not delivered until hours later: re-rendered as of then
    run_at(app, runner, "2025-12-10T08:29")
    app.clock.set(parse_now("2025-12-10T08:30"))
    runner.tick()
    with app.sessions.begin() as session:
        session.scalar(select(Task).where(Task.key == "old")).deadline = date(2025, 12, 3)
    app.clock.set(parse_now("2025-12-10T15:00"))
    asyncio.run(runner.deliver_all())
    assert len(robot.sent) == 2 and "逾期7天" in robot.sent[-1][1].text
    # no group robot channel running: the row is closed, nothing else is affected
    app.clock.set(parse_now("2025-12-11T08:30"))
    lone = NotifierRouter()
    lone.register("console", Recorder())
    runner2 = ReminderRunner(app, lone, worker="t2")
    runner2.tick()
    asyncio.run(runner2.deliver_all())
    with app.sessions() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("digest-robot:%:2025-12-11")))
    assert (row.status, row.last_error) == ("no_address", "group robot channel not running")
    assert len(robot.sent) == 2


# ---------------------------------------------------------------- Telegram: the real notifier and pacing

TG_TOKEN = "123:ABC"


def test_weekly_brief_on_telegram_is_text_then_photo(sqlite_app):
    from channels.telegram.bot import TelegramBot
    from channels.telegram.notifier import TelegramNotifier
    from testing.fake_telegram import FakeTelegramAPI

    app = sqlite_app
    fresh_since(app, "2025-12-01T00:00")
    add_task(app, "red", date(2025, 12, 5))
    with app.sessions.begin() as session:
        zhang = session.scalar(select(Person).where(Person.name == "张主任"))
        bind_identity(session, app.clock.now(), zhang, "telegram", "9001", "9001", "张主任")

    async def main():
        async with FakeTelegramAPI(token=TG_TOKEN) as fake:
            app.config.telegram.token, app.config.telegram.base_url = TG_TOKEN, f"{fake.base_url}/bot"
            application = TelegramBot(app).build_application(with_updater=False)
            async with application:
                router = NotifierRouter()
                router.register("telegram", TelegramNotifier(application.bot))
                router.register("console", Recorder())
                runner = ReminderRunner(app, router, worker="t")
                app.clock.set(parse_now("2025-12-08T08:30"))
                runner.tick()
                await runner.deliver_all()
            return [m for m in fake.sent if m["chat_id"] == 9001]

    sent = asyncio.run(main())
    briefs = [m for m in sent if m["method"] == "sendMessage" and "督办周报" in (m["text"] or "")]
    assert len(briefs) == 1 and briefs[0]["text"].startswith("📊 雕庄街道督办周报(12-01~12-08)")
    [photo] = [m for m in sent if m["method"] == "sendPhoto"]
    assert photo["caption"] == "雕庄街道督办周报" and sent.index(photo) > sent.index(briefs[0])


def test_telegram_pacing_sends_a_burst_without_429(sqlite_app):
    """60 pushes to 60 chats at once: the bot's limiter paces them (no burst of 30), so
    Telegram's one-second window never refuses one."""
    from bot.messages import Reply
    from channels.telegram.bot import TelegramBot
    from channels.telegram.notifier import TelegramNotifier
    from testing.fake_telegram import FakeTelegramAPI

    async def main():
        async with FakeTelegramAPI(token=TG_TOKEN) as fake:
            sqlite_app.config.telegram.token = TG_TOKEN
            sqlite_app.config.telegram.base_url = f"{fake.base_url}/bot"
            application = TelegramBot(sqlite_app).build_application(with_updater=False)
            async with application:
                notifier = TelegramNotifier(application.bot)
                await asyncio.gather(*(notifier.send(str(1000 + i), Reply(f"提醒{i}")) for i in range(60)))
            return fake

    fake = asyncio.run(main())
    assert fake.rejected == [] and len(fake.sent) == 60
    assert sorted(m["chat_id"] for m in fake.sent) == list(range(1000, 1060))
