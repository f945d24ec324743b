"""A person's own reminder settings (/remind) and snoozing a pushed reminder."""
from __future__ import annotations

import logging
import re
from datetime import datetime, time, timedelta
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import RemindersConfig
from bot.dateparse import DateParseError, parse_snooze
from bot.models import (
    OutboxMessage,
    Person,
)
from bot.services import audit
from bot.services.errors import InvalidInput, NotFound
from bot.services.outbox_store import push
from bot.services.reminder_rules import SENT, SNOOZABLE_KINDS, quiet_of
from bot.services.text import nfkc
from bot.workdays import WorkCalendar

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- snooze

SNOOZE_CHOICES = {"1h": "1小时", "am": "明早"}


def snooze(session: Session, now: datetime, person: Person, outbox_id: Optional[int],
           when_text: str, calendar: Optional[WorkCalendar] = None) -> tuple[OutboxMessage, datetime]:
    """Remind again later: copy a reminder the person got into a new outbox row at ``when``.

    Without ``outbox_id`` the person's latest reminder is snoozed.
    """
    if outbox_id is not None:
        original = session.get(OutboxMessage, outbox_id)
    else:
        original = session.scalars(
            select(OutboxMessage).where(OutboxMessage.person_id == person.id,
                                        OutboxMessage.kind.in_(SNOOZABLE_KINDS),
                                        OutboxMessage.status == SENT)
            .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc()).limit(1)).first()
    if original is None or original.person_id != person.id:
        raise NotFound("没有可以稍后再提醒的消息。")
    try:
        when = parse_snooze(SNOOZE_CHOICES.get(when_text, when_text), now, calendar)
    except DateParseError as error:
        raise InvalidInput(str(error)) from None
    if when <= now:
        raise InvalidInput("稍后的时间要在现在之后。")
    if when - now > timedelta(days=31):
        raise InvalidInput("最多推迟31天。")
    text = original.payload.get("text", "")
    if not text.startswith("🔔"):
        text = "🔔 稍后提醒\n" + text
    key = f"sz:{original.id}:{when:%Y%m%d%H%M}"
    push(session, now, key, "snooze", person.id, text,
         original.payload.get("actions", []), original.task_id, due_at=when)
    row = session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).one()
    return row, when


# ---------------------------------------------------------------- settings (/remind)

def settings_text(person: Person, rc: RemindersConfig, now: datetime) -> str:
    remind = person.remind_time or rc.remind_time
    quiet = quiet_of(person, rc)
    lines = [f"⏰ {person.name}的提醒设置",
             f"提醒时间:{remind:%H:%M}" + ("" if person.remind_time else "(默认)"),
             "免打扰:" + (f"{quiet[0]:%H:%M}-{quiet[1]:%H:%M}" if quiet else "无")
             + ("" if person.quiet_start is not None else "(默认)")]
    if person.muted_until is not None and person.muted_until > now:
        lines.append(f"状态:已关闭,到 {person.muted_until:%m-%d %H:%M} 恢复")
    else:
        lines.append("状态:开启")
    lines.append("改法:/remind 时间 8:30 · /remind 免打扰 22:00-7:30 · /remind 关闭一周 · "
                 "/remind 开启 · /remind 默认")
    return "\n".join(lines)


def _parse_clock(text: str) -> time:
    s = nfkc(text).strip().replace("点半", ":30").replace("点", ":").rstrip(":")
    m = re.fullmatch(r"(\d{1,2})(?::(\d{1,2}))?", s)
    if not m or int(m.group(1)) > 23 or int(m.group(2) or 0) > 59:
        raise InvalidInput(f"看不懂时间“{text}”,请写 8:30 这样的时间。")
    return time(int(m.group(1)), int(m.group(2) or 0))


def change_settings(session: Session, now: datetime, person: Person, args: str) -> str:
    """Apply one /remind change; returns a short confirmation. Bad input changes nothing."""
    text = nfkc(args).strip()
    before = {"remind_time": person.remind_time, "quiet_start": person.quiet_start,
              "quiet_end": person.quiet_end, "muted_until": person.muted_until}
    if text in ("关闭一周", "关一周", "暂停一周", "off", "关闭"):
        person.muted_until = now + timedelta(days=7)
        done = f"已关闭提醒一周,到 {person.muted_until:%m-%d %H:%M} 自动恢复。"
    elif text in ("开启", "打开", "恢复", "on"):
        person.muted_until = None
        done = "提醒已开启。"
    elif text in ("默认", "恢复默认", "reset"):
        person.remind_time = person.quiet_start = person.quiet_end = None
        person.muted_until = None
        done = "已恢复默认设置。"
    else:
        m = re.fullmatch(r"(时间|提醒时间|time)\s*(.+)", text)
        q = re.fullmatch(r"(免打扰|quiet)\s*(.+)", text)
        if m:
            person.remind_time = _parse_clock(m.group(2))
            done = f"提醒时间改为 {person.remind_time:%H:%M}。"
        elif q:
            value = q.group(2).strip()
            if value in ("无", "关闭", "off"):
                person.quiet_start = person.quiet_end = time(0, 0)
                done = "已取消免打扰。"
            else:
                parts = re.split(r"\s*(?:-|~|到|至)\s*", value)
                if len(parts) != 2:
                    raise InvalidInput("免打扰请写成 22:00-7:30 这样。")
                person.quiet_start, person.quiet_end = _parse_clock(parts[0]), _parse_clock(parts[1])
                done = f"免打扰改为 {person.quiet_start:%H:%M}-{person.quiet_end:%H:%M}。"
        else:
            raise InvalidInput("看不懂这个设置。可以写:/remind 时间 8:30、/remind 免打扰 22:00-7:30、"
                               "/remind 关闭一周、/remind 开启、/remind 默认")
    after = {"remind_time": person.remind_time, "quiet_start": person.quiet_start,
             "quiet_end": person.quiet_end, "muted_until": person.muted_until}
    audit.record(session, now, person, "settings", "reminders", person.name,
                 {k: str(v) if v is not None else None for k, v in before.items()},
                 {k: str(v) if v is not None else None for k, v in after.items()})
    session.flush()
    return done
