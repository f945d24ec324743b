"""Who may open the 督办驾驶舱 (web view): login links, sessions and 大屏 screen tokens.

A person asks in chat ("驾驶舱") and gets a personal link: signed, single-use, valid for
``dashboard.link_minutes``. Opening it starts a session bound to that person that lasts
``dashboard.session_hours`` (the secret travels in an HttpOnly cookie). An admin creates
read-only screen tokens for the office's 大屏 and revokes them, and revokes a person's
sessions. Only a SHA-256 of each secret is stored (``WebAccess``); a token also carries an
HMAC signature, so a forged one is refused before the database is asked.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional, cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from bot.models import Person, WebAccess
from bot.services import audit

LINK, SESSION, SCREEN = "link", "session", "screen"

# what a person sees when a link does not work (the web page shows it)
LINK_PROBLEMS = {
    "forged": "链接无效(可能复制不完整)。请在聊天里发“驾驶舱”获取新链接。",
    "unknown": "链接无效。请在聊天里发“驾驶舱”获取新链接。",
    "used": "这个链接已经用过了,每个链接只能用一次。请在聊天里发“驾驶舱”获取新链接。",
    "expired": "链接已过期。请在聊天里发“驾驶舱”获取新链接。",
    "revoked": "链接已被管理员撤销。",
    "inactive": "你的账号已停用,不能打开驾驶舱。",
}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _signature(key: bytes, kind: str, body: str) -> str:
    return _b64(hmac.new(key, f"{kind}:{body}".encode(), hashlib.sha256).digest()[:16])


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def make_token(key: bytes, kind: str) -> str:
    body = _b64(secrets.token_bytes(24))
    return f"{body}.{_signature(key, kind, body)}"


def signed(key: bytes, kind: str, token: str) -> bool:
    body, dot, sig = (token or "").partition(".")
    if not dot or len(token) > 100:
        return False
    return hmac.compare_digest(sig, _signature(key, kind, body))


def _new(session: Session, now: datetime, key: bytes, kind: str, person: Optional[Person],
         created_by: Optional[Person], expires_at: Optional[datetime], label: Optional[str] = None,
         link_id: Optional[int] = None) -> tuple[str, WebAccess]:
    token = make_token(key, kind)
    row = WebAccess(kind=kind, token_hash=_hash(token), person_id=person.id if person else None,
                    label=label, created_by_id=created_by.id if created_by else None, created_at=now,
                    expires_at=expires_at, link_id=link_id)
    session.add(row)
    session.flush()
    return token, row


# ---------------------------------------------------------------- login links and sessions

def new_link(session: Session, now: datetime, key: bytes, person: Person, minutes: int) -> str:
    """A personal, single-use login link secret for ``person``, valid ``minutes``."""
    token, _ = _new(session, now, key, LINK, person, person, now + timedelta(minutes=minutes))
    return token


@dataclass
class LinkCheck:
    problem: Optional[str]          # a key of LINK_PROBLEMS, None when the link works
    row: Optional[WebAccess] = None
    person: Optional[Person] = None

    @property
    def message(self) -> str:
        return LINK_PROBLEMS[self.problem] if self.problem else ""


def check_link(session: Session, now: datetime, key: bytes, token: str) -> LinkCheck:
    """Whether a login link works now (does not use it)."""
    if not signed(key, LINK, token):
        return LinkCheck("forged")
    row = session.scalar(select(WebAccess).where(WebAccess.token_hash == _hash(token), WebAccess.kind == LINK))
    if row is None:
        return LinkCheck("unknown")
    if row.revoked_at is not None:
        return LinkCheck("revoked", row)
    if row.used_at is not None:
        return LinkCheck("used", row)
    if row.expires_at is not None and row.expires_at <= now:
        return LinkCheck("expired", row)
    person = session.get(Person, row.person_id) if row.person_id else None
    if person is None or not person.active:
        return LinkCheck("inactive", row)
    return LinkCheck(None, row, person)


def use_link(session: Session, now: datetime, key: bytes, token: str,
             hours: float) -> tuple[LinkCheck, Optional[str]]:
    """Use a login link once: (check, session secret). The link is marked used with one
    conditional UPDATE, so two tabs racing with the same link start one session."""
    check = check_link(session, now, key, token)
    if check.problem:
        return check, None
    row, person = check.row, check.person
    assert row is not None and person is not None  # check_link gives both when the link works
    taken = cast(CursorResult, session.execute(
        update(WebAccess).where(WebAccess.id == row.id, WebAccess.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)))
    if taken.rowcount != 1:
        return LinkCheck("used", row), None
    secret, _ = _new(session, now, key, SESSION, person, person,
                     now + timedelta(hours=hours), link_id=row.id)
    audit.record(session, now, person, "web_login", "person", person.name, None, None)
    return check, secret


def session_person(session: Session, now: datetime, key: bytes, secret: Optional[str]) -> Optional[Person]:
    """The person of a valid, unexpired, unrevoked session secret (the cookie), else None."""
    if not secret or not signed(key, SESSION, secret):
        return None
    row = session.execute(
        select(WebAccess, Person).join(Person, Person.id == WebAccess.person_id)
        .where(WebAccess.token_hash == _hash(secret), WebAccess.kind == SESSION)).first()
    if row is None:
        return None
    access, person = row
    if access.revoked_at is not None or (access.expires_at and access.expires_at <= now) or not person.active:
        return None
    return person


def end_session(session: Session, now: datetime, key: bytes, secret: Optional[str]) -> None:
    """Log out: the cookie's session is revoked."""
    if secret and signed(key, SESSION, secret):
        session.execute(update(WebAccess).where(WebAccess.token_hash == _hash(secret), WebAccess.revoked_at.is_(None))
                        .values(revoked_at=now))


def revoke_person(session: Session, now: datetime, actor: Person, person: Person) -> int:
    """Revoke every session and unused link of ``person``; returns how many were live."""
    live = cast(CursorResult, session.execute(
        update(WebAccess).where(WebAccess.person_id == person.id, WebAccess.kind.in_((LINK, SESSION)),
                                WebAccess.revoked_at.is_(None), WebAccess.expires_at > now,
                                (WebAccess.kind == SESSION) | WebAccess.used_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False))).rowcount
    audit.record(session, now, actor, "web_revoke", "person", person.name, None, {"revoked": live})
    return live


# ---------------------------------------------------------------- 大屏 screen tokens

def new_screen(session: Session, now: datetime, key: bytes, actor: Person, label: str) -> tuple[str, WebAccess]:
    token, row = _new(session, now, key, SCREEN, None, actor, None, label=label[:64] or None)
    audit.record(session, now, actor, "screen_new", "screen", str(row.id), None, {"label": row.label})
    return token, row


def screen_valid(session: Session, key: bytes, token: Optional[str]) -> Optional[WebAccess]:
    if not token or not signed(key, SCREEN, token):
        return None
    return session.scalar(select(WebAccess).where(WebAccess.token_hash == _hash(token), WebAccess.kind == SCREEN,
                                                  WebAccess.revoked_at.is_(None)))


def live_screens(session: Session) -> list[WebAccess]:
    return list(session.scalars(select(WebAccess).where(WebAccess.kind == SCREEN, WebAccess.revoked_at.is_(None))
                                .order_by(WebAccess.id)))


def revoke_screens(session: Session, now: datetime, actor: Person, screen_id: Optional[int] = None) -> int:
    """Revoke one screen token (by its number) or, without a number, all of them."""
    query = update(WebAccess).where(WebAccess.kind == SCREEN, WebAccess.revoked_at.is_(None))
    if screen_id is not None:
        query = query.where(WebAccess.id == screen_id)
    count = cast(CursorResult, session.execute(
        query.values(revoked_at=now).execution_options(synchronize_session=False))).rowcount
    audit.record(session, now, actor, "screen_revoke", "screen", str(screen_id or "all"), None, {"revoked": count})
    return count
