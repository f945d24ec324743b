"""The neutral message types every channel translates to and from.

A channel turns a platform update into an ``Incoming`` and renders the ``Reply`` objects it
gets back (inline keyboards on Telegram, template cards or numbered choices on WeCom, plain
text on the console). Nothing here knows any SDK.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

PRIVATE = "private"
GROUP = "group"


@dataclass
class Attachment:
    kind: str  # photo | document
    file_id: Optional[str] = None
    local_path: Optional[str] = None
    file_name: Optional[str] = None
    size: Optional[int] = None


@dataclass
class Incoming:
    """One message or button press from a user."""

    channel: str  # telegram | wecom | console
    chat_id: str
    user_id: str
    text: str = ""
    user_name: Optional[str] = None
    chat_type: str = PRIVATE
    callback_data: Optional[str] = None
    attachments: list[Attachment] = field(default_factory=list)
    #: a unique id of this incoming message (e.g. telegram:update:123) for idempotency
    message_ref: Optional[str] = None
    #: in groups: the message is a command or mentions the bot
    addressed: bool = True
    #: False when the channel cannot show buttons: they become numbered choices
    buttons_supported: bool = True
    #: False when the channel shows no pictures in a reply (WeCom: a chart becomes text only)
    can_send_photos: bool = True


@dataclass
class Button:
    label: str
    data: str  # signed callback data, < 64 bytes


@dataclass
class OutFile:
    path: str
    kind: str = "document"  # document | photo
    caption: Optional[str] = None


@dataclass
class Reply:
    text: str = ""
    buttons: list[list[Button]] = field(default_factory=list)
    files: list[OutFile] = field(default_factory=list)
    #: for a button press: replace the message the button was on instead of sending anew
    edit: bool = False
    #: a short notice for the button press itself (Telegram answerCallbackQuery)
    notice: Optional[str] = None
