"""Buttons expire and belong to someone: the signed data carries when and for whom it was
issued. Older than ``buttons.max_age_days`` -> "按钮已过期" with the command to use; pressed by
someone else -> refused, nothing changes; a pushed reminder's buttons stay valid while that
reminder is the latest of its kind for its task; in a team's group the button belongs to the
group (any member there may press it, not elsewhere)."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from bot.clock import parse_now
from bot.messages import GROUP, Incoming
from bot.models import Conversation, TaskUpdate
from handlers.core import handle
from tests.conftest import Chat
from tests.test_reminders import add_task, run_at, runner_for

EXPIRED_UPDATE = "按钮已过期,请发 报进展 重新操作。"
FOREIGN = "这个按钮是发给别人的。"


def button(replies, label: str = "") -> str:
    """The data of the first button whose label contains ``label`` (any button for "")."""
    for reply in replies:
        for row in reply.buttons:
            for b in row:
                if label in b.label:
                    return b.data
    raise AssertionError(f"no button {label!r}")


def changes(app) -> tuple[int, int]:
    with app.sessions() as session:
        return (session.scalar(select(func.count(TaskUpdate.id))),
                session.scalar(select(func.count(Conversation.id))))


def test_a_button_older_than_max_age_is_expired_with_the_command_to_use(sqlite_app):
    wang = Chat(sqlite_app, "王干部")
    card = wang.replies("/task 纳图电气")
    data = button(card, "报进展")
    sqlite_app.clock.advance(timedelta(days=13))
    assert "请发现在的进度" in wang.say("", callback=data)  # still fresh
    wang.say("/cancel")
    before = changes(sqlite_app)
    sqlite_app.clock.advance(timedelta(days=2))  # 15 days old
    assert wang.say("", callback=data) == EXPIRED_UPDATE
    listing = wang.replies("/tasks")
    task_button = button(listing)
    sqlite_app.clock.advance(timedelta(days=15))
    assert wang.say("", callback=task_button) == "按钮已过期,请发 /task 名称 重新操作。"
    assert changes(sqlite_app) == before


def test_max_age_comes_from_config(sqlite_app):
    sqlite_app.config.buttons.max_age_days = 2
    wang = Chat(sqlite_app, "王干部")
    data = button(wang.replies("/task 纳图电气"), "报进展")
    sqlite_app.clock.advance(timedelta(days=3))
    assert wang.say("", callback=data) == EXPIRED_UPDATE


def test_someone_elses_button_is_refused_and_changes_nothing(sqlite_app):
    wang, chen, zhao = Chat(sqlite_app, "王干部"), Chat(sqlite_app, "陈主任"), Chat(sqlite_app, "赵干部")
    update = button(wang.replies("/task 纳图电气"), "报进展")
    listing = button(wang.replies("/tasks"))
    before = changes(sqlite_app)
    assert chen.say("", callback=update) == FOREIGN      # a leader may report, but not on 王's button
    assert zhao.say("", callback=listing) == FOREIGN     # even a read-only list page
    assert changes(sqlite_app) == before
    assert "请发现在的进度" in wang.say("", callback=update)  # its owner still can


def test_a_pushed_reminder_replayed_by_another_user_is_refused(sqlite_app):
    app = sqlite_app
    app.clock.set(parse_now("2025-12-01T00:00"))
    add_task(app, "bx", date(2025, 12, 15))
    runner, rec = runner_for(app)
    run_at(app, runner, "2025-12-10T09:00")
    push = next(r for who, r in rec.sent if who == "王干部" and "测试事项bx" in r.text and "到期提醒" in r.text)
    before = changes(app)
    for other in ("陈主任", "李组长", "赵干部"):
        assert Chat(app, other).say("", callback=button([push], "报进展")) == FOREIGN
        assert Chat(app, other).say("", callback=button([push], "1小时后提醒")) == FOREIGN
    assert changes(app) == before


def test_a_reminder_button_stays_valid_while_its_reminder_is_current(sqlite_app):
    app = sqlite_app
    app.clock.set(parse_now("2025-12-01T00:00"))
    add_task(app, "cur", date(2025, 12, 15))
    runner, rec = runner_for(app)
    run_at(app, runner, "2025-12-10T09:00")  # T-3: the first deadline reminder
    first = next(r for who, r in rec.sent if who == "王干部" and "测试事项cur" in r.text and "到期提醒" in r.text)
    wang = Chat(app, "王干部")
    app.clock.set(parse_now("2025-12-30T10:00"))  # 20 days later, no newer reminder for it
    assert "📌 测试事项cur" in wang.say("", callback=button([first], "报进展"))
    wang.say("/cancel")


def test_a_superseded_reminder_button_expires_after_max_age(sqlite_app):
    app = sqlite_app
    app.clock.set(parse_now("2025-12-01T00:00"))
    add_task(app, "sup", date(2025, 12, 15))
    runner, rec = runner_for(app)
    run_at(app, runner, "2025-12-10T09:00")
    first = next(r for who, r in rec.sent if who == "王干部" and "测试事项sup" in r.text and "到期提醒" in r.text)
    run_at(app, runner, "2025-12-12T09:00")  # T-1: a newer reminder for the same task
    second = [r for who, r in rec.sent if who == "王干部" and "测试事项sup" in r.text and "到期提醒" in r.text][-1]
    assert "还有1个工作日到期" in second.text
    wang = Chat(app, "王干部")
    app.clock.set(parse_now("2025-12-30T10:00"))
    before = changes(app)
    assert wang.say("", callback=button([first], "报进展")) == EXPIRED_UPDATE
    assert changes(app) == before
    assert "📌 测试事项sup" in wang.say("", callback=button([second], "报进展"))  # the current one works


def group_message(app, person: str, text: str = "", callback: str | None = None, chat_id: str = "grp-xm1"):
    Chat(app, person)  # bound on the console, as in a private chat
    return handle(app, Incoming(channel="console", chat_id=chat_id, user_id=person, user_name=person,
                                text=text, callback_data=callback, chat_type=GROUP, addressed=True))


def test_a_group_button_belongs_to_the_teams_group(sqlite_app):
    app = sqlite_app
    assert "已绑定" in "\n".join(r.text for r in group_message(app, "张主任", "/bindgroup 项目一专班"))
    listing = group_message(app, "王干部", "/tasks")
    data = button(listing)
    # another member, in the same group: the button is the group's
    assert "责任人" in "\n".join(r.text for r in group_message(app, "李组长", callback=data))
    # the same data pressed in a private chat, or in another group: refused
    assert Chat(app, "王干部").say("", callback=data) == FOREIGN
    assert group_message(app, "张主任", "/bindgroup 项目二专班", chat_id="grp-xm2")
    assert "\n".join(r.text for r in group_message(app, "张主任", callback=data, chat_id="grp-xm2")) == FOREIGN
