"""Dispatch: one incoming message in, replies out. Every channel calls ``handle``.

Each message is one database transaction. A ServiceError (bad input, no permission) rolls
it back, so bad input changes nothing, and becomes a short Chinese reply. Any other error is
logged with the message reference and answered politely — never with a stack trace.

A button press is checked before its handler runs (``button_refusal``): data that is forged
or malformed is "expired"; a button sent to someone else (another person; in a team's group,
another chat) is refused; one older than ``buttons.max_age_days`` is expired with the command
to use instead — except a pushed reminder's buttons, valid as long as that reminder is the
latest of its kind sent to that person for that task (``outbox_store.is_current_push``).
"""
from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from typing import Optional, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.app import ButtonData, Duban
from bot.buttons import EXPIRED_HINTS, Cb
from bot.messages import GROUP, Incoming, Reply
from bot.models import InboundSeen, Person
from bot.permissions import Action, allowed, refusal
from bot.services import outbox_store
from bot.services.errors import NotFound, PermissionDenied, ServiceError
from bot.services.people import group_team, identify_in_chat
from bot.services.text import nfkc
from handlers import understand
from handlers.context import Ctx
from handlers.dialogues import DIALOGUES, continue_dialogue, describe
from handlers.registry import (
    ATTACHMENTS,
    CALLBACKS,
    COMMANDS,
    GROUP_UNBOUND_COMMANDS,
    WORDS,
)

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 2000
UNBOUND_REPLY = ("你还没有绑定身份。\n请向管理员要邀请码,然后发:/start 邀请码\n"
                 "例如:/start AB12CD34")
EXPIRED_REPLY = "按钮已过期,请重新发命令。"
FOREIGN_BUTTON_REPLY = "这个按钮是发给别人的。"
ERROR_REPLY = "抱歉,处理时出错了,已记录。请稍后再试,或发 /help。"


def handle(app: Duban, msg: Incoming) -> list[Reply]:
    """Answer one message. Safe to call again with the same ``message_ref``: it is answered
    once, and a repeat gets no reply and changes nothing. Counted in ``app.metrics`` by
    outcome: ok, duplicate, refused (bad input, no permission), error."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        with app.sessions.begin() as session:
            if msg.message_ref and _seen_before(session, msg):
                raise _AlreadySeen
            person, conv = identify_in_chat(session, msg.channel, msg.user_id, msg.chat_id)
            ctx = Ctx(app, session, app.clock.now(), msg, cast(Person, person))  # None: see Ctx.person
            ctx.known_conversation(conv)
            replies = _route(ctx)
            if replies and not msg.buttons_supported:
                replies = _number_choices(ctx, replies)
            elif ctx.person is not None:
                _remember_buttons(ctx, replies)
            # Recorded last, in the same transaction: a read-only answer (an export, a list)
            # takes no write lock while it works, so on SQLite it blocks no other chat. A repeat
            # racing in from another worker fails here and rolls back everything it did.
            if msg.message_ref and not _first_time(session, app, msg):
                raise _AlreadySeen  # leaves the transaction, which PostgreSQL needs after the failed INSERT
            return replies
    except _AlreadySeen:
        outcome = "duplicate"
        logger.info("duplicate %s ignored", msg.message_ref, extra={"ref": msg.message_ref})
        return []
    except ServiceError as error:
        outcome = "refused"
        return [error_reply(error)]
    except Exception:  # the bot must never die on one message
        outcome = "error"
        logger.exception("failed to handle %s from %s:%s", msg.message_ref, msg.channel, msg.user_id,
                         extra={"ref": msg.message_ref})
        return [Reply(ERROR_REPLY)]
    finally:
        seconds = time.perf_counter() - started
        app.metrics.message_handled(msg.channel, outcome, seconds)
        logger.info("handled %s from %s:%s: %s in %.0f ms", msg.message_ref, msg.channel, msg.user_id,
                    outcome, seconds * 1000, extra={"ref": msg.message_ref})


class _AlreadySeen(Exception):
    """This message_ref was handled before."""


_INBOUND_SEEN = cast(Table, InboundSeen.__table__)
_SEEN = insert(_INBOUND_SEEN)  # built once
_SEEN_BEFORE = (select(_INBOUND_SEEN.c.channel)
                .where(_INBOUND_SEEN.c.channel == bindparam("channel"),
                       _INBOUND_SEEN.c.external_id == bindparam("external_id")))


def _seen_before(session: Session, msg: Incoming) -> bool:
    """A plain repeat (a redelivered update): one primary-key read, no lock taken."""
    found = session.connection().execute(_SEEN_BEFORE, {"channel": msg.channel,
                                                         "external_id": msg.message_ref})
    return found.first() is not None


def _first_time(session: Session, app: Duban, msg: Incoming) -> bool:
    """Record the message reference; False when it is already recorded. One INSERT and no
    SELECT first: the primary key refuses a repeat, also one racing in from another process."""
    try:
        session.connection().execute(_SEEN, {"channel": msg.channel, "external_id": msg.message_ref,
                                             "seen_at": app.clock.now()})
    except IntegrityError:
        return False
    return True


def error_reply(error: ServiceError) -> Reply:
    text = error.message
    if isinstance(error, NotFound) and error.suggestions:
        text += "\n" + "\n".join(f"· {s}" for s in error.suggestions)
    return Reply(text)


_COMMAND = re.compile(r"^/([A-Za-z_]+)(?:@(\w+))?(?:\s+(.*))?$", re.S)


def parse_command(text: str) -> Optional[tuple[str, str]]:
    """'/update@duban_bot 纳图 65%' -> ('update', '纳图 65%'); Chinese words -> their command."""
    text = text.strip()
    match = _COMMAND.match(text)
    if match:
        return match.group(1).lower(), (match.group(3) or "").strip()
    first, _, rest = text.partition(" ")
    if first in WORDS:
        return WORDS[first], rest.strip()
    return None


def button_refusal(ctx: Ctx, data: ButtonData) -> Optional[Reply]:
    """The reply refusing a press of someone else's or an expired button; None to go on."""
    if data.team_id is not None:
        team = ctx.group_team()
        if team is None or team.id != data.team_id:
            return Reply(FOREIGN_BUTTON_REPLY, notice="不是你的按钮")
    elif data.person_id is not None and (ctx.person is None or ctx.person.id != data.person_id):
        return Reply(FOREIGN_BUTTON_REPLY, notice="不是你的按钮")
    max_age = timedelta(days=ctx.app.config.buttons.max_age_days)
    if data.issued is not None and ctx.now - data.issued <= max_age:
        return None
    if data.issued is not None and data.push_id is not None and outbox_store.is_current_push(
            ctx.session, data.push_id, data.person_id):
        return None
    hint = EXPIRED_HINTS.get(data.parts[0])
    text = f"按钮已过期,请发 {hint} 重新操作。" if hint else EXPIRED_REPLY
    return Reply(text, notice="已过期")


def _route(ctx: Ctx) -> list[Reply]:
    msg = ctx.msg
    if msg.chat_type == GROUP and not msg.addressed and not msg.callback_data:
        return []
    text = nfkc(msg.text or "").strip()
    if len(text) > MAX_TEXT_CHARS:
        return [Reply(f"消息太长({len(text)}字)。请控制在{MAX_TEXT_CHARS}字以内,"
                      "查询只需写名称,例如:财政收入多少")]
    command = parse_command(text) if text else None
    if msg.chat_type == GROUP and group_team(ctx.session, msg.channel, msg.chat_id) is None:
        if not command or command[0] not in GROUP_UNBOUND_COMMANDS:
            return []
    if ctx.person is None:
        entry = COMMANDS.get(command[0]) if command else None
        if entry is not None and entry.action is Action.ANYONE:
            return _as_list(entry.func(ctx, command[1]))
        return [Reply(UNBOUND_REPLY)]

    if not msg.callback_data and text and command is None:
        typed = ctx.memory().get("buttons", {}).get(text)
        if typed:  # a button's label typed instead of pressed acts as the button
            msg.callback_data = typed
    if msg.callback_data:
        data = ctx.app.verify(msg.callback_data)
        if data is None or (data.parts[0] not in CALLBACKS and data.parts[0] != Cb.DROP):
            return [Reply(EXPIRED_REPLY, notice="已过期")]
        refused = button_refusal(ctx, data)
        if refused is not None:
            return [refused]
        if data.parts[0] == Cb.DROP:
            return _drop_answer(ctx, data.parts[1:])
        func, action = CALLBACKS[data.parts[0]]
        _require(ctx, action)
        return _as_list(func(ctx, data.parts[1:]))

    conv = ctx.conversation()
    if conv is not None and command is None:
        choice = conv.data.get("choices") if conv.data else None
        if choice and text.isdigit():
            index = int(text) - 1
            if 0 <= index < len(choice):
                msg.callback_data = choice[index]
                return _route(ctx)
        pending = (conv.data or {}).get("pending_command")
        if pending:
            return _drop_answer(ctx, [str(conv.id), "y" if text.lower() in YES_WORDS else "n"])
        side = understand.side_request(ctx, text) if conv.flow in DIALOGUES else None
        if side is not None:  # a reminder or snooze phrase typed inside a dialogue
            return [side]
        handled = continue_dialogue(ctx, conv, text)
        if handled is not None:
            return _as_list(handled)
    elif conv is not None and command is not None and command[0] != "cancel":
        if conv.flow in DIALOGUES:  # a draft in progress: ask before dropping it
            conv.data = {**(conv.data or {}), "pending_command": text}
            ctx.session.flush()
            return [Reply(f"你还有一份没完成的{describe(conv)}。放弃它,执行“{text[:20]}”吗?",
                          buttons=[[ctx.button("放弃并执行", Cb.DROP, conv.id, "y"),
                                    ctx.button("继续填写", Cb.DROP, conv.id, "n")]])]
        ctx.end_conversation()  # numbered choices: nothing to lose

    if command is None and msg.attachments:
        for attachment in msg.attachments:
            if attachment.kind in ATTACHMENTS:
                func, action = ATTACHMENTS[attachment.kind]
                _require(ctx, action)
                return _as_list(func(ctx, attachment))
    if command:
        name, args = command
        entry = COMMANDS.get(name)
        if entry is None:
            return [Reply(f"没有 /{name} 这个命令。发 /help 看能做什么。")]
        _require(ctx, entry.action)
        return _as_list(entry.func(ctx, args))
    if not text:
        if msg.attachments:
            return [Reply("收到附件。报进展时可附现场照片:先发“报进展”,按提示操作。")]
        return [Reply("请发文字,例如:财政收入多少、纳图电气进展。发 /help 看全部用法。")]
    understood = understand.answer(ctx, text)
    if understood is not None:
        return _as_list(understood)
    return _as_list(COMMANDS["q"].func(ctx, text))


YES_WORDS = {"是", "是的", "好", "好的", "确定", "放弃", "放弃并执行", "y", "yes", "ok"}


def _drop_answer(ctx: Ctx, parts: list[str]) -> list[Reply]:
    """The answer to "放弃草稿,执行新命令?": yes runs the command typed, no keeps the draft."""
    conv = ctx.conversation()
    if conv is None or not parts or parts[0] != str(conv.id) or not (conv.data or {}).get("pending_command"):
        return [Reply(EXPIRED_REPLY, notice="已过期")]
    data = dict(conv.data)
    pending = data.pop("pending_command")
    if len(parts) > 1 and parts[1] == "y":
        ctx.end_conversation()
        ctx.msg.text, ctx.msg.callback_data = pending, None
        return _route(ctx)
    conv.data = data
    ctx.session.flush()
    return [Reply(f"好,继续{describe(conv)}。请接着发。")]


def _remember_buttons(ctx: Ctx, replies: list[Reply]) -> None:
    """Labels of the buttons just sent -> their data, so typing a label acts as pressing it."""
    labels = {button.label: button.data for reply in replies for row in reply.buttons for button in row}
    if labels or ctx.memory().get("buttons"):
        ctx.remember(buttons=labels or None)


def _require(ctx: Ctx, action: Action) -> None:
    """The one permission check: the action a command, button or attachment declares."""
    if not allowed(ctx.person, action):
        raise PermissionDenied(refusal(action))


def _as_list(result) -> list[Reply]:
    if result is None:
        return []
    return result if isinstance(result, list) else [result]


def _number_choices(ctx: Ctx, replies: list[Reply]) -> list[Reply]:
    """For channels without buttons: list choices as numbers the user can type back."""
    choices: list[str] = []
    for reply in replies:
        lines = []
        for row in reply.buttons:
            for button in row:
                choices.append(button.data)
                lines.append(f"{len(choices)}. {button.label}")
        if lines:
            reply.text = (reply.text + "\n" if reply.text else "") + "回复数字选择:\n" + "\n".join(lines)
            reply.buttons = []
    if choices and ctx.person is not None:
        conv = ctx.conversation()
        if conv is None:
            ctx.start_conversation("choices", "pick", {"choices": choices})
        else:
            conv.data = {**(conv.data or {}), "choices": choices}
            ctx.session.flush()
    return replies
