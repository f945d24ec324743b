"""People, roles, chat identities and invite codes; permission checks live here.

Roles: leader (街道领导: reads everything), team_lead (专班负责人: updates the team's
tasks, approves extensions), cadre (干部: updates the team's and their own tasks).
``is_admin`` adds invites, imports and group binding on top of any role.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from bot.db import remember_meta_versions, version_columns
from bot.models import (
    ROLE_CADRE,
    ROLE_LEADER,
    ROLE_TEAM_LEAD,
    ROLES,
    ChatIdentity,
    Conversation,
    GroupBinding,
    Invite,
    Person,
    Task,
    Team,
)
from bot.services import audit
from bot.services.errors import InvalidInput, NotFound, PermissionDenied

ROLE_NAMES = {ROLE_LEADER: "街道领导", ROLE_TEAM_LEAD: "专班负责人", ROLE_CADRE: "干部"}
#: how people write a role (/setrole, the console's --as): word -> role
ROLE_WORDS = {
    "leader": ROLE_LEADER, "领导": ROLE_LEADER, "街道领导": ROLE_LEADER,
    "team_lead": ROLE_TEAM_LEAD, "lead": ROLE_TEAM_LEAD, "专班负责人": ROLE_TEAM_LEAD, "组长": ROLE_TEAM_LEAD,
    "负责人": ROLE_TEAM_LEAD,
    "cadre": ROLE_CADRE, "干部": ROLE_CADRE,
}
INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
INVITE_DAYS = 14


def role_label(person: Person) -> str:
    label = ROLE_NAMES.get(person.role, person.role)
    return label + ("·管理员" if person.is_admin else "")


def identify(session: Session, channel: str, external_user_id: str) -> Optional[Person]:
    """The active person bound to this chat account, if any."""
    return session.scalar(
        select(Person)
        .join(ChatIdentity, ChatIdentity.person_id == Person.id)
        .where(ChatIdentity.channel == channel, ChatIdentity.external_user_id == external_user_id)
        .where(Person.active.is_(True))
    )


# Built once with bound parameters: every message runs it, and building an ORM select
# costs more than running it.
_PERSON_IN_CHAT = (
    select(Person, Conversation, *version_columns())
    .join(ChatIdentity, ChatIdentity.person_id == Person.id)
    .outerjoin(Conversation, and_(Conversation.channel == bindparam("channel"),
                                  Conversation.chat_id == bindparam("chat_id"),
                                  Conversation.person_id == Person.id))
    .where(ChatIdentity.channel == bindparam("channel"),
           ChatIdentity.external_user_id == bindparam("user_id"))
    .where(Person.active.is_(True))
)


def identify_in_chat(session: Session, channel: str, external_user_id: str,
                     chat_id: str) -> tuple[Optional[Person], Optional[Conversation]]:
    """``identify`` plus that person's dialogue in this chat (None if none), in one query:
    every message needs both, and most need the meta versions, which come along too."""
    row = session.execute(_PERSON_IN_CHAT, {"channel": channel, "chat_id": chat_id,
                                            "user_id": external_user_id}).first()
    if row is None:
        return None, None
    remember_meta_versions(session, row[2:])
    return row[0], row[1]


def find_person(session: Session, name: str) -> Person:
    person = session.scalar(select(Person).where(Person.name == name.strip()))
    if person is None:
        raise NotFound(f"没有找到人员“{name}”。")
    return person


_TEAM = select(Team).where((Team.code == bindparam("code")) | (Team.name == bindparam("name")))  # built once


def find_team(session: Session, text: str) -> Optional[Team]:
    text = text.strip()
    return session.scalar(_TEAM, {"code": text.lower(), "name": text})


def team_lead_of(session: Session, team_id: Optional[int]) -> Optional[Person]:
    if team_id is None:
        return None
    return session.scalar(
        select(Person)
        .where(Person.team_id == team_id, Person.role == ROLE_TEAM_LEAD, Person.active.is_(True))
        .order_by(Person.id)
    )


def require_admin(person: Person) -> None:
    if not person.is_admin:
        raise PermissionDenied("只有管理员可以这样做。")


def can_update(person: Person, task: Task) -> bool:
    """Admins update anything; team leads and cadres their team's tasks and their own."""
    if person.is_admin:
        return True
    if person.role == ROLE_LEADER:
        return False
    if task.owner_id == person.id:
        return True
    return person.team_id is not None and task.team_id == person.team_id


def require_can_update(person: Person, task: Task) -> None:
    if not can_update(person, task):
        if person.role == ROLE_LEADER:
            raise PermissionDenied("领导账号只能查看。报进展请由责任专班填写。")
        raise PermissionDenied(f"“{task.name}”不属于你的专班,不能报进展。")


def create_person(
    session: Session,
    now: datetime,
    actor: Optional[Person],
    name: str,
    role: str,
    team: Optional[Team] = None,
    is_admin: bool = False,
) -> Person:
    if role not in ROLES:
        raise InvalidInput(f"角色只能是:{'、'.join(ROLE_NAMES.values())}。")
    if not name.strip():
        raise InvalidInput("姓名不能为空。")
    if session.scalar(select(Person.id).where(Person.name == name.strip())):
        raise InvalidInput(f"“{name}”已存在。")
    person = Person(name=name.strip(), role=role, team=team, is_admin=is_admin, created_at=now)
    session.add(person)
    session.flush()
    audit.record(session, now, actor, "create", "person", person.name, None,
                 {"role": role, "team": team.code if team else None, "is_admin": is_admin})
    return person


def set_role(session: Session, now: datetime, actor: Person, person: Person, role: str,
             team: Optional[Team] = None) -> None:
    require_admin(actor)
    if role not in ROLES:
        raise InvalidInput(f"角色只能是:{'、'.join(ROLE_NAMES.values())}。")
    before = {"role": person.role, "team": person.team.code if person.team else None}
    person.role = role
    if team is not None:
        person.team = team
    audit.record(session, now, actor, "role", "person", person.name, before,
                 {"role": role, "team": person.team.code if person.team else None})


def create_invite(session: Session, now: datetime, actor: Optional[Person], person: Person,
                  code: Optional[str] = None) -> Invite:
    """A one-time code for ``person``; admins only (``actor`` None means the system/seed)."""
    if actor is not None:
        require_admin(actor)
    code = (code or "".join(secrets.choice(INVITE_ALPHABET) for _ in range(8))).upper()
    invite = Invite(code=code, person=person, created_by_id=actor.id if actor else None,
                    created_at=now, expires_at=now + timedelta(days=INVITE_DAYS))
    session.add(invite)
    session.flush()
    audit.record(session, now, actor, "invite", "person", person.name, None, {"code": code})
    return invite


def redeem_invite(session: Session, now: datetime, code: str, channel: str,
                  external_user_id: str, chat_id: str, display_name: Optional[str]) -> Person:
    """Bind a chat account to the invite's person. The code works once and expires."""
    code = code.strip().upper()
    invite = session.scalar(select(Invite).where(Invite.code == code))
    if invite is None:
        raise NotFound("邀请码不对。请向管理员核对后重发:/start 邀请码")
    if invite.used_at is not None:
        raise InvalidInput("这个邀请码已经用过了。请向管理员要一个新的。")
    if invite.expires_at is not None and invite.expires_at < now:
        raise InvalidInput("这个邀请码已过期。请向管理员要一个新的。")
    existing = session.scalar(select(ChatIdentity).where(
        ChatIdentity.channel == channel, ChatIdentity.external_user_id == external_user_id))
    before = None
    if existing is not None:
        before = {"person_id": existing.person_id}
        existing.person_id = invite.person_id
        existing.chat_id = chat_id
        existing.display_name = display_name
        existing.bound_at = now
        identity = existing
    else:
        identity = ChatIdentity(person_id=invite.person_id, channel=channel,
                                external_user_id=external_user_id, chat_id=chat_id,
                                display_name=display_name, bound_at=now)
        session.add(identity)
    session.flush()
    invite.used_at = now
    invite.used_by_identity_id = identity.id
    audit.record(session, now, invite.person, "bind", "identity", f"{channel}:{external_user_id}",
                 before, {"person": invite.person.name})
    return invite.person


def bind_identity(session: Session, now: datetime, person: Person, channel: str,
                  external_user_id: str, chat_id: str, display_name: Optional[str] = None) -> ChatIdentity:
    """Direct binding for trusted channels (the local console) and seeding."""
    identity = session.scalar(select(ChatIdentity).where(
        ChatIdentity.channel == channel, ChatIdentity.external_user_id == external_user_id))
    if identity is None:
        identity = ChatIdentity(person=person, channel=channel, external_user_id=external_user_id,
                                chat_id=chat_id, display_name=display_name, bound_at=now)
        session.add(identity)
    else:
        identity.person = person
        identity.chat_id = chat_id
    session.flush()
    return identity


def group_team(session: Session, channel: str, chat_id: str) -> Optional[Team]:
    """The team a group chat is bound to, or None when the group is not bound."""
    return session.scalar(select(Team).join(GroupBinding, GroupBinding.team_id == Team.id)
                          .where(GroupBinding.channel == channel, GroupBinding.chat_id == chat_id))


def bind_group(session: Session, now: datetime, actor: Person, channel: str, chat_id: str,
               team: Team) -> None:
    require_admin(actor)
    binding = session.scalar(select(GroupBinding).where(
        GroupBinding.channel == channel, GroupBinding.chat_id == chat_id))
    before = None
    if binding is None:
        session.add(GroupBinding(channel=channel, chat_id=chat_id, team_id=team.id,
                                 bound_by_id=actor.id, bound_at=now))
    else:
        before = {"team_id": binding.team_id}
        binding.team_id = team.id
    audit.record(session, now, actor, "bind", "group", f"{channel}:{chat_id}", before, {"team": team.code})


def identities_of(session: Session, person_id: int) -> list[ChatIdentity]:
    return list(session.scalars(select(ChatIdentity).where(ChatIdentity.person_id == person_id)
                                .order_by(ChatIdentity.id)))
