"""Reply -> WeCom message payloads (the ``msgtype`` part of message/send and webhook/send).

WeCom counts its size limits in UTF-8 **bytes** (developer.work.weixin.qq.com, 发送应用消息:
text content 最长不超过2048个字节; 群机器人: text 2048 bytes, markdown 4096 bytes). Long
replies are split on line boundaries so that no piece goes over the limit and no character
is ever cut in half; a single line longer than the limit is split between characters.

Replies with buttons become template cards (按钮交互型, at most 6 buttons a card); the button
``key`` is the signed ``Button.data`` and comes back as the EventKey of a
``template_card_event``. When cards are switched off the handlers number the choices
instead (``Incoming.buttons_supported=False``), so nothing here has to.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Optional

from bot.messages import Button, Reply

TEXT_LIMIT = 2048          # app message text.content, robot text.content
APP_MARKDOWN_LIMIT = 2048  # app message markdown.content
ROBOT_MARKDOWN_LIMIT = 4096
CARD_MAX_BUTTONS = 6       # template_card button_list
CARD_TITLE_CHARS = 26      # main_title.title (WeCom: 建议不超过26个字)
CARD_SUB_TITLE_CHARS = 112  # sub_title_text (建议不超过112个字)
CARD_BUTTON_CHARS = 10     # button text (建议不超过10个字)
MORE_MARK = "(续)"
CARD_DEFAULT_TITLE = "督办助手"


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut_line(line: str, limit: int) -> Iterator[str]:
    """Split one over-long line between characters, each piece <= limit bytes."""
    piece: list[str] = []
    size = 0
    for char in line:
        width = utf8_len(char)
        if size + width > limit and piece:
            yield "".join(piece)
            piece, size = [], 0
        piece.append(char)
        size += width
    if piece:
        yield "".join(piece)


def split_utf8(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` UTF-8 bytes, on line boundaries when
    possible and never inside a character. Empty text gives no pieces."""
    if limit < 4:
        raise ValueError("limit must hold at least one character (4 bytes)")
    text = text.strip("\n")
    if not text:
        return []
    if utf8_len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        pieces = [line] if utf8_len(line) <= limit else list(_cut_line(line, limit))
        for piece in pieces:
            width = utf8_len(piece) + (1 if current else 0)
            if current and size + width > limit:
                chunks.append("\n".join(current))
                current, size = [], 0
                width = utf8_len(piece)
            current.append(piece)
            size += width
    if current:
        chunks.append("\n".join(current))
    return [c for c in chunks if c.strip()]


def clip_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_payloads(text: str, limit: int = TEXT_LIMIT) -> list[dict]:
    return [{"msgtype": "text", "text": {"content": piece}} for piece in split_utf8(text, limit)]


def markdown_payloads(text: str, limit: int = APP_MARKDOWN_LIMIT) -> list[dict]:
    return [{"msgtype": "markdown", "markdown": {"content": piece}} for piece in split_utf8(text, limit)]


def card_task_id(userid: str, buttons: list[Button], salt: str = "") -> str:
    """A card's task_id: unique per app, <= 128 bytes of [0-9a-zA-Z_-@]."""
    digest = hashlib.sha1("|".join([userid, salt, *(b.data for b in buttons)]).encode()).hexdigest()
    return f"duban-{digest[:32]}"


def button_card(title: str, sub_title: str, buttons: list[Button], task_id: str) -> dict:
    """A 按钮交互型 template card; each button's key is its signed data."""
    card: dict = {
        "card_type": "button_interaction",
        "main_title": {"title": clip_chars(title, CARD_TITLE_CHARS) or "请选择"},
        "task_id": task_id,
        "button_list": [
            {"text": clip_chars(b.label, CARD_BUTTON_CHARS), "style": 1 if i == 0 else 2, "key": b.data}
            for i, b in enumerate(buttons)
        ],
    }
    if sub_title:
        card["sub_title_text"] = sub_title
    return {"msgtype": "template_card", "template_card": card}


def reply_payloads(reply: Reply, userid: str = "", use_cards: bool = True, salt: str = "") -> list[dict]:
    """The app messages for one reply, in order (files are sent separately, see notifier).

    Text goes as text messages split at 2048 bytes. Buttons (when ``use_cards``) go as
    template cards of up to 6 buttons: a short text rides in the card itself, a long one is
    sent first as text and the card carries only a title. Without cards, any buttons left
    on the reply are listed as plain labels (the handlers have already numbered them).
    """
    text = reply.text or (reply.notice or "")
    buttons = [b for row in reply.buttons for b in row]
    if not buttons:
        return text_payloads(text)
    if not use_cards:
        labels = "\n".join(f"· {b.label}" for b in buttons)
        return text_payloads(f"{text}\n{labels}" if text else labels)
    payloads: list[dict] = []
    lines = text.strip("\n").split("\n") if text.strip() else []
    title, rest = (lines[0], "\n".join(lines[1:])) if lines else ("请选择", "")
    if len(title) > CARD_TITLE_CHARS or len(rest) > CARD_SUB_TITLE_CHARS:
        if len(text) <= CARD_SUB_TITLE_CHARS:   # short enough for the card's body
            title, rest = CARD_DEFAULT_TITLE, text.strip("\n")
        else:                                   # long: the text first, then a bare card
            payloads.extend(text_payloads(text))
            title, rest = "请选择:", ""
    groups = [buttons[i:i + CARD_MAX_BUTTONS] for i in range(0, len(buttons), CARD_MAX_BUTTONS)]
    for index, group in enumerate(groups):
        card_title = title if index == 0 else f"{clip_chars(title, CARD_TITLE_CHARS - 3)}{MORE_MARK}"
        payloads.append(button_card(card_title, rest if index == 0 else "", group,
                                    card_task_id(userid, group, f"{salt}:{index}")))
    return payloads


def robot_payloads(reply: Reply, markdown: bool = False) -> list[dict]:
    """Group robot messages for a reply: text <= 2048 bytes, markdown <= 4096 bytes a piece.
    Robots cannot take button presses, so buttons are left out."""
    text = reply.text or (reply.notice or "")
    if markdown:
        return markdown_payloads(text, ROBOT_MARKDOWN_LIMIT)
    return text_payloads(text, TEXT_LIMIT)


def first_line(text: Optional[str]) -> str:
    return (text or "").strip().split("\n", 1)[0]
