"""Database models (SQLAlchemy 2.0, typed ``Mapped[...]`` columns).

Every datetime is aware: stored as UTC, read back in Asia/Shanghai (``AwareDateTime``).
Schema changes go through Alembic (``alembic/versions``); ``tests/test_migrations.py``
checks that the migrations and these models agree.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from bot.clock import OFFICE_TZ

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class AwareDateTime(TypeDecorator):
    """Aware datetimes in, aware (Asia/Shanghai) datetimes out; UTC in the database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use the Clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Optional[datetime], dialect) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(OFFICE_TZ)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: AwareDateTime(), dict[str, Any]: JSON, list[str]: JSON}


# Roles. A person has one role and may also be an admin.
ROLE_LEADER = "leader"
ROLE_TEAM_LEAD = "team_lead"
ROLE_CADRE = "cadre"
ROLES = (ROLE_LEADER, ROLE_TEAM_LEAD, ROLE_CADRE)

class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    SUPERSEDED = "superseded"
    NO_ADDRESS = "no_address"


class ReviewStatus(StrEnum):
    """Task.review_status (办结审核); None: not asked."""

    PENDING = "pending"      # 待审核
    APPROVED = "approved"    # 已销号
    RETURNED = "returned"    # 退回


class OutboxKind(StrEnum):
    DEADLINE = "deadline"
    MILESTONE = "milestone"
    STALE = "stale"
    DIGEST = "digest"
    ROBOT_DIGEST = "robot_digest"
    BRIEF = "brief"
    ESCALATION = "escalation"
    SNOOZE = "snooze"
    EXTENSION = "extension"
    REVIEW = "review"
    ADMIN = "admin"
    ASSIGN = "assign"          # 交办: to the owner and the team lead, with [签收]
    SIGNED = "signed"          # 签收: to the 交办人
    UNSIGNED = "unsigned"      # not signed within the limit: to the 交办人 and the team lead
    INSTRUCTION = "instruction"  # 批示: to the owner and the team lead, with [反馈]
    FEEDBACK = "feedback"      # 反馈: to the leader who wrote the 批示
    URGE = "urge"              # 催办: to the owner (the team lead when no owner)


#: 来源 of a task (交办 in chat, ledger column 来源)
ORIGINS = ("会议", "批示", "上级交办", "报告")

# Task statuses.
STATUS_ACTIVE = "active"
STATUS_DONE = "done"
STATUS_PAUSED = "paused"
STATUSES = (STATUS_ACTIVE, STATUS_DONE, STATUS_PAUSED)


class Team(Base):
    """A squad (专班) or department that owns tasks."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="")
    #: the leader in charge (分管领导), told when the team's tasks are long overdue
    leader_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("people.id", use_alter=True, ondelete="SET NULL")
    )
    #: WeCom group robot (群机器人) webhook key for team digests
    robot_key: Mapped[Optional[str]] = mapped_column(String(128))

    members: Mapped[list[Person]] = relationship(
        back_populates="team", foreign_keys="Person.team_id"
    )
    leader: Mapped[Optional[Person]] = relationship(foreign_keys=[leader_id])


class Person(Base):
    """Someone who uses the bot: leader, team lead or cadre; optionally an admin."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    team_id: Mapped[Optional[int]] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    # Reminder settings (/remind); None means the office default from config.yaml.
    remind_time: Mapped[Optional[time]] = mapped_column(Time)
    quiet_start: Mapped[Optional[time]] = mapped_column(Time)
    quiet_end: Mapped[Optional[time]] = mapped_column(Time)
    muted_until: Mapped[Optional[datetime]]

    team: Mapped[Optional[Team]] = relationship(back_populates="members", foreign_keys=[team_id])
    identities: Mapped[list[ChatIdentity]] = relationship(back_populates="person")


class ChatIdentity(Base):
    """A person's account on one channel (Telegram user id, WeCom userid, console name)."""

    __tablename__ = "chat_identities"
    __table_args__ = (UniqueConstraint("channel", "external_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_user_id: Mapped[str] = mapped_column(String(128))
    #: where to send private messages (Telegram private chat id; WeCom userid)
    chat_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[Optional[str]] = mapped_column(String(128))
    bound_at: Mapped[datetime]

    person: Mapped[Person] = relationship(back_populates="identities")


class GroupBinding(Base):
    """A group chat an admin has bound to a team; the bot answers only in bound groups."""

    __tablename__ = "group_bindings"
    __table_args__ = (UniqueConstraint("channel", "chat_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(128))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    bound_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id"))
    bound_at: Mapped[datetime]


class Invite(Base):
    """A one-time code an admin gives a person so they can bind their chat account."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[Optional[datetime]]
    used_at: Mapped[Optional[datetime]]
    used_by_identity_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("chat_identities.id", ondelete="SET NULL")
    )

    person: Mapped[Person] = relationship(foreign_keys=[person_id])


class Indicator(Base):
    """A figure the office tracks (一般公共预算收入, 社零, ...); values live per period."""

    __tablename__ = "indicators"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: normalised names, aliases and their pinyin, computed on write (bot.services.lookup)
    search_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    category: Mapped[str] = mapped_column(String(32), index=True)
    unit: Mapped[str] = mapped_column(String(16), default="")
    target: Mapped[Optional[float]] = mapped_column(Float)
    target_text: Mapped[Optional[str]] = mapped_column(Text)
    target_source: Mapped[Optional[str]] = mapped_column(Text)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]

    values: Mapped[list[IndicatorValue]] = relationship(
        back_populates="indicator", order_by="IndicatorValue.period_end"
    )


class IndicatorValue(Base):
    """One period's value of an indicator, with the sentence it came from."""

    __tablename__ = "indicator_values"
    __table_args__ = (UniqueConstraint("indicator_id", "period_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    period_label: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    value: Mapped[Optional[float]] = mapped_column(Float)
    qualifier: Mapped[Optional[str]] = mapped_column(String(8))
    yoy_pct: Mapped[Optional[float]] = mapped_column(Float)
    source: Mapped[Optional[str]] = mapped_column(Text)
    recorded_at: Mapped[datetime]

    indicator: Mapped[Indicator] = relationship(back_populates="values")


class Task(Base):
    """A supervised item: key project, 招商 project, livelihood task, second-half target.

    ``progress`` and ``last_update_at`` mirror the latest TaskUpdate. The ``*_on`` dates are
    when the task's light changes if nothing else happens; they are recomputed whenever the
    task changes, so lists and lights are indexed comparisons with today's date.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_status_deadline", "status", "deadline"),
        Index("ix_tasks_team_status", "team_id", "status"),
        # covers every column a light depends on: counts and urgency order read only the index
        Index("ix_tasks_lights", "status", "deadline", "behind_red_on", "behind_yellow_on",
              "due_soon_on", "stale_on", "progress", "team_id", "owner_id", "category"),
        # covers what the 专班 ranking counts per team (bot.services.ranking)
        Index("ix_tasks_ranking", "team_id", "status", "deadline", "original_deadline", "behind_red_on",
              "last_update_at", "signed_at", "assigned_at", "urge_count"),
        # 未签收交办 (the 驾驶舱's list): signed_at IS NULL, assigned_at IS NOT NULL, oldest first
        Index("ix_tasks_unsigned", "signed_at", "assigned_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: normalised names, aliases and their pinyin, computed on write (bot.services.lookup)
    search_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    category: Mapped[str] = mapped_column(String(32), index=True)
    subcategory: Mapped[Optional[str]] = mapped_column(String(64))
    team_id: Mapped[Optional[int]] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    owner_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    lead_unit: Mapped[Optional[str]] = mapped_column(String(128))
    description: Mapped[Optional[str]] = mapped_column(Text)
    target_text: Mapped[Optional[str]] = mapped_column(Text)
    target_value: Mapped[Optional[float]] = mapped_column(Float)
    target_unit: Mapped[Optional[str]] = mapped_column(String(16))
    source: Mapped[Optional[str]] = mapped_column(Text)
    start_date: Mapped[Optional[date]] = mapped_column(Date)
    deadline: Mapped[Optional[date]] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=STATUS_ACTIVE)
    progress: Mapped[Optional[float]] = mapped_column(Float)
    last_update_at: Mapped[Optional[datetime]]
    last_activity_at: Mapped[datetime]
    created_at: Mapped[datetime]
    behind_yellow_on: Mapped[Optional[date]] = mapped_column(Date, index=True)
    behind_red_on: Mapped[Optional[date]] = mapped_column(Date, index=True)
    due_soon_on: Mapped[Optional[date]] = mapped_column(Date, index=True)
    stale_on: Mapped[date] = mapped_column(Date, index=True)
    # -- the 督办 cycle (交办 → 签收 → 反馈 → 催办 → 审核 → 销号); see bot/models.py TaskEvent
    #: 来源: 会议 | 批示 | 上级交办 | 报告
    origin: Mapped[Optional[str]] = mapped_column(String(16))
    #: 分解交办: the parent task of a sub-task
    parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    #: 分管领导
    leader_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    assigned_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    assigned_at: Mapped[Optional[datetime]]
    signed_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    signed_at: Mapped[Optional[datetime]]
    #: 原时限: the deadline before the first change (None while it never moved)
    original_deadline: Mapped[Optional[date]] = mapped_column(Date)
    extension_count: Mapped[int] = mapped_column(Integer, default=0)
    #: 审核状态: None (not asked) | pending (待审核) | approved (已销号) | returned (退回)
    review_status: Mapped[Optional[str]] = mapped_column(String(16), index=True)
    return_reason: Mapped[Optional[str]] = mapped_column(Text)
    #: latest 存在问题 / 下步计划 (mirrors the latest update that had them)
    problems: Mapped[Optional[str]] = mapped_column(Text)
    next_steps: Mapped[Optional[str]] = mapped_column(Text)
    urge_count: Mapped[int] = mapped_column(Integer, default=0)
    last_urged_at: Mapped[Optional[datetime]]

    team: Mapped[Optional[Team]] = relationship()
    owner: Mapped[Optional[Person]] = relationship(foreign_keys=[owner_id])
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="task", order_by="Milestone.sort_order"
    )


class Milestone(Base):
    """A named step of a task (开工, 封顶, 建成开业 ...), optionally with its own date."""

    __tablename__ = "milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    due: Mapped[Optional[date]] = mapped_column(Date)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[Optional[datetime]]
    done_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id"))

    task: Mapped[Task] = relationship(back_populates="milestones")


class TaskUpdate(Base):
    """One progress report: append-only; the latest one drives the task card."""

    __tablename__ = "task_updates"
    __table_args__ = (Index("ix_task_updates_task_created", "task_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    author_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime]
    progress: Mapped[Optional[float]] = mapped_column(Float)
    previous_progress: Mapped[Optional[float]] = mapped_column(Float)
    note: Mapped[Optional[str]] = mapped_column(Text)
    milestone_id: Mapped[Optional[int]] = mapped_column(ForeignKey("milestones.id"))
    photo_file_id: Mapped[Optional[str]] = mapped_column(String(256))
    photo_path: Mapped[Optional[str]] = mapped_column(String(512))
    channel: Mapped[Optional[str]] = mapped_column(String(16))
    #: the incoming message it came from (e.g. telegram:update:123); unique, so a
    #: redelivered message cannot log the same update twice
    source_ref: Mapped[Optional[str]] = mapped_column(String(128), unique=True)
    #: 存在问题 and 下步计划 reported with this update
    problems: Mapped[Optional[str]] = mapped_column(Text)
    next_steps: Mapped[Optional[str]] = mapped_column(Text)

    task: Mapped[Task] = relationship()
    author: Mapped[Optional[Person]] = relationship()
    milestone: Mapped[Optional[Milestone]] = relationship()


class AuditEntry(Base):
    """Who changed what, when, and what it replaced (留痕)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id"))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_key: Mapped[Optional[str]] = mapped_column(String(128))
    before: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    after: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)


class Conversation(Base):
    """State of a multi-step dialogue (guided update, confirmation), kept across restarts."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "chat_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    flow: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


class ChatMemory(Base):
    """What a chat talked about last (handlers.understand): the last list and page, the last
    topic and when, the labels of the last buttons. One row per chat and person."""

    __tablename__ = "chat_memory"
    __table_args__ = (UniqueConstraint("channel", "chat_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


class InboundSeen(Base):
    """Incoming messages already handled (Telegram update_id, WeCom MsgId)."""

    __tablename__ = "inbound_seen"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class OutboxMessage(Base):
    """A message to push (reminder, digest, escalation), recorded before it is sent.

    ``dedupe_key`` names who, what and which occasion; it is unique, so two processes or a
    restart can never create the same reminder twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    channel: Mapped[Optional[str]] = mapped_column(String(16))
    chat_id: Mapped[Optional[str]] = mapped_column(String(128))
    task_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[Optional[str]] = mapped_column(String(64))
    claimed_until: Mapped[Optional[datetime]]
    sent_at: Mapped[Optional[datetime]]
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[Optional[str]] = mapped_column(Text)


class ExtensionRequest(Base):
    """A cadre's request for a later deadline (申请延期), decided by the team lead."""

    __tablename__ = "extension_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    milestone_id: Mapped[Optional[int]] = mapped_column(ForeignKey("milestones.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    reason: Mapped[str] = mapped_column(Text)
    old_deadline: Mapped[Optional[date]] = mapped_column(Date)
    new_deadline: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime]
    decided_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[Optional[datetime]]
    #: 延期 up the chain: "lead" (专班负责人) first, then "leader" (分管领导) when needed
    stage: Mapped[str] = mapped_column(String(16), default="lead")
    lead_decided_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id"))
    lead_decided_at: Mapped[Optional[datetime]]
    decision_note: Mapped[Optional[str]] = mapped_column(Text)


class TaskEvent(Base):
    """One entry of a task's timeline (时间轴): 交办, 签收, 批示, 反馈, 催办, 延期, 审核, 修改.

    Progress updates stay in ``task_updates``; the timeline merges both, newest first.
    ``data`` holds the kind's details (old and new values of an edit, a return reason ...).
    """

    __tablename__ = "task_events"
    __table_args__ = (Index("ix_task_events_task_created", "task_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    text: Mapped[Optional[str]] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]


class Instruction(Base):
    """A leader's 批示 on a task, tracked until the owner answers it with a 反馈."""

    __tablename__ = "instructions"
    __table_args__ = (Index("ix_instructions_open", "answered_at", "task_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    leader_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    answered_at: Mapped[Optional[datetime]]
    answered_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    answer: Mapped[Optional[str]] = mapped_column(Text)


class MetaEntry(Base):
    """Small key-value facts about this database (e.g. the light thresholds last applied)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class WebAccess(Base):
    """Access to the 督办驾驶舱 (web view): one row per login link, session or screen token.

    Only a SHA-256 of the secret is stored. ``kind``: ``link`` (single-use login link a
    person gets in chat), ``session`` (started by a link; its secret is the cookie) or
    ``screen`` (read-only 大屏 token an admin creates; no person). Revoking sets ``revoked_at``.
    """

    __tablename__ = "web_access"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    label: Mapped[Optional[str]] = mapped_column(String(64))
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    expires_at: Mapped[Optional[datetime]]
    used_at: Mapped[Optional[datetime]]
    revoked_at: Mapped[Optional[datetime]]
    #: the link a session was started from
    link_id: Mapped[Optional[int]] = mapped_column(ForeignKey("web_access.id", ondelete="SET NULL"))


class SendBucket(Base):
    """A token bucket for sending, shared by every instance on one PostgreSQL
    (bot.services.send_limits): ``tokens`` left at ``updated_at`` (Unix seconds, the database's
    clock). One row per channel (``telegram``) and per chat (``telegram:12345``)."""

    __tablename__ = "send_buckets"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
