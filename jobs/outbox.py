"""The reminder runner: a tick records what is due in the outbox; delivery claims rows and
sends them through the channels' notifiers, exactly once per dedupe key.

Claiming: a worker marks up to N due rows with its token and a lease (``claimed_by``,
``claimed_until``) in one statement that only matches rows still ``pending`` and not leased
by someone else (on PostgreSQL the candidates are picked with ``FOR UPDATE SKIP LOCKED``),
so two processes never hold the same row. After a send the row is marked ``sent`` at once;
a failed send is retried with exponential backoff (a platform's ``retry_after`` wins when
longer) and given up after ``reminders.max_attempts``, which is reported to the admins.

A claim never outlives its send: just before a send whose lease has run half down, the
worker renews it (``UPDATE … WHERE id AND claimed_by = token``: a row someone else took
is skipped, never sent); the notifier may wait on rate limits only while the lease lasts
(``max_wait`` = lease left − ``LEASE_MARGIN``) — a longer 429 ``retry_after`` releases the
row (``next_attempt_at = now + retry_after``, claim cleared, not counted as an attempt)
instead of sleeping on it; and every outcome is written fenced by the claim token, so a
worker that lost its claim changes nothing (it logs the send and does not count it).

Weekly briefs are rendered at send time (``reports.weekly_brief``, its picture by
``charts.render_brief`` into ``out_dir``, attached as a photo except on WeCom); a team's
robot digest (kind ``robot_digest``) is addressed at send time to channel ``wecom_robot``
with the team's current ``robot_key``.

The one unavoidable window: a process killed after the platform accepted a message but
before the ``sent`` mark was committed. Its lease expires and the row is sent again
(at-least-once for that single in-flight message; nothing is ever lost).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Optional, cast

from sqlalchemy import exists, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import aliased

from bot.app import Duban, owner_of
from bot.buttons import push_buttons
from bot.messages import OutFile, Reply
from bot.models import ChatIdentity, OutboxMessage, Person, Team
from bot.notify import DeliveryError, NotifierRouter, WaitExceedsLease
from bot.services import charts, digests, outbox_store, reminder_rules
from jobs.limits import shared_limits_for

logger = logging.getLogger(__name__)

#: channels in order of preference when a person is bound to several (one push per person)
CHANNEL_PREFERENCE = ("telegram", "wecom", "console")
MAX_BACKOFF_SECONDS = 3600.0
#: seconds of a lease kept back for the send itself (the HTTP call after any rate-limit wait)
LEASE_MARGIN = 10.0


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    postponed: list[int] = field(default_factory=list)

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(*(getattr(self, f) + getattr(other, f)
                                for f in ("sent", "retried", "failed", "skipped", "postponed")))

    @property
    def handled(self) -> int:
        return len(self.sent) + len(self.retried) + len(self.failed) + len(self.skipped) + len(self.postponed)


@dataclass
class _Job:
    row_id: int
    channel: str
    chat_id: str
    reply: Reply
    kind: str
    attempts: int
    person_name: str
    lease_until: Optional[datetime] = None


def _close(row: OutboxMessage, report: DeliveryReport, status: str, error: Optional[str] = None) -> None:
    """The row will not be sent: skipped, superseded or without an address."""
    row.status = status
    if error is not None:
        row.last_error = error
    report.skipped.append(row.id)


def _postponed_for_quiet_hours(row: OutboxMessage, now: datetime, quiet, report: DeliveryReport) -> bool:
    """Within quiet hours: release the row until they end (True); else False."""
    quiet_end = reminder_rules.in_quiet_hours(now, quiet)
    if quiet_end is None:
        return False
    row.next_attempt_at, row.claimed_by, row.claimed_until = quiet_end, None, None
    report.postponed.append(row.id)
    return True


def chat_not_busy(now: datetime):
    """Claim condition keeping one person's pushes in order across instances: none of their
    rows may be held (an active lease) by another worker right now."""
    other = aliased(OutboxMessage)
    return ~exists().where(other.person_id == OutboxMessage.person_id, other.id != OutboxMessage.id,
                           other.status == reminder_rules.PENDING, other.claimed_until.is_not(None),
                           other.claimed_until >= now)


def by_chat(jobs: list[_Job]) -> list[list[_Job]]:
    """Jobs grouped by chat, each group in claim order: chats go in parallel, one chat's
    pushes one after another (they arrive in order)."""
    groups: dict[tuple[str, str], list[_Job]] = {}
    for job in jobs:
        groups.setdefault((job.channel, job.chat_id), []).append(job)
    return list(groups.values())


class ReminderRunner:
    """Tick (decide and record) and deliver (claim, send, mark), reading the app's clock."""

    def __init__(self, app: Duban, notifiers: NotifierRouter, worker: Optional[str] = None,
                 concurrency: int = 30) -> None:
        self.app = app
        self.notifiers = notifiers
        self.worker = (worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")[:48]
        self.concurrency = concurrency
        self._batches = itertools.count(1)
        self.missing_years: set[int] = set()
        self.calendar = reminder_rules.make_calendar(app.config, on_missing_year=self.missing_years.add)
        self.limits = shared_limits_for(app)  # several instances: send limits in the database

    @property
    def rc(self):
        return self.app.config.reminders

    # ------------------------------------------------------------ tick

    def tick(self, now: Optional[datetime] = None, record: bool = True) -> list[reminder_rules.Due]:
        """Record every occasion due by ``now`` (catching up since the last tick); returns
        the new ones. With ``record=False`` nothing is written (a dry run)."""
        now = now or self.app.clock.now()
        session = self.app.session()
        try:
            with session.begin():
                since = outbox_store.last_tick(session)
                dues = reminder_rules.due_reminders(session, now, self.app.config, self.calendar, since)
                new = outbox_store.enqueue(session, dues, now, self.app.config)
                if self.missing_years:
                    outbox_store.warn_missing_years(session, now, self.missing_years)
                if record:
                    outbox_store.set_last_tick(session, now)
                else:
                    session.rollback()
            return new
        finally:
            session.close()

    def later_today(self, now: Optional[datetime] = None) -> list[reminder_rules.Due]:
        """Occasions still ahead today (not recorded), for the console demo's preview."""
        now = now or self.app.clock.now()
        end = datetime.combine(now.date(), datetime.max.time(), tzinfo=now.tzinfo)
        with self.app.sessions() as session:
            dues = reminder_rules.due_reminders(session, end, self.app.config, self.calendar)
            known = outbox_store.existing_keys(session, (d.dedupe_key for d in dues))
        return [d for d in dues if d.due_at > now and d.dedupe_key not in known]

    async def tick_async(self) -> None:
        try:
            new = await self.app.workers.run(self.tick)
            if new:
                logger.info("reminders: %d new in the outbox", len(new))
        except Exception:  # a failed tick must not stop the scheduler
            logger.exception("reminder tick failed")

    # ------------------------------------------------------------ delivery

    def claim(self, now: datetime, limit: int = 100) -> tuple[str, list[int]]:
        token = f"{self.worker}:{next(self._batches)}"
        until = now + timedelta(seconds=self.rc.claim_seconds)
        free = or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now)
        with self.app.sessions.begin() as session:
            candidates = (select(OutboxMessage.id)
                          .where(OutboxMessage.status == reminder_rules.PENDING,
                                 OutboxMessage.next_attempt_at <= now, free, chat_not_busy(now))
                          .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
            if session.get_bind().dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            ids = list(session.scalars(candidates))
            if not ids:
                return token, []
            session.execute(update(OutboxMessage)
                            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == reminder_rules.PENDING, free)
                            .values(claimed_by=token, claimed_until=until)
                            .execution_options(synchronize_session=False))
            claimed = list(session.scalars(select(OutboxMessage.id).where(OutboxMessage.claimed_by == token)
                                           .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)))
        return token, claimed

    def renew(self, token: str, row_id: int) -> Optional[datetime]:
        """Extend this worker's lease on a row; None when the row is no longer ours (another
        worker claimed it after our lease ran out, or it is no longer pending)."""
        until = self.app.clock.now() + timedelta(seconds=self.rc.claim_seconds)
        with self.app.sessions.begin() as session:
            result = cast(CursorResult, session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == token,
                       OutboxMessage.status == reminder_rules.PENDING)
                .values(claimed_until=until)
                .execution_options(synchronize_session=False)))
        return until if result.rowcount == 1 else None

    def lease_margin(self) -> float:
        return min(LEASE_MARGIN, self.rc.claim_seconds / 4)

    def _address(self, person: Person, identities: list[ChatIdentity]) -> Optional[tuple[str, str]]:
        """Where to push: the preferred running channel the person is bound to (latest binding
        first), else the console by name when the console notifier runs."""
        available = self.notifiers.channels()
        for channel in CHANNEL_PREFERENCE:
            for identity in identities:
                if identity.channel == channel and channel in available:
                    return channel, identity.chat_id
        for identity in identities:
            if identity.channel in available:
                return identity.channel, identity.chat_id
        if "console" in available:
            return "console", person.name
        return None

    def render(self, row: OutboxMessage, late: bool) -> Reply:
        payload = row.payload or {}
        text = payload.get("text", "")
        if late and row.kind not in reminder_rules.DIRECT_KINDS:
            text = "(补发)" + text
        # signed at send time, for the recipient, with the row: valid while this reminder is current
        team_id = payload.get("team_id") if row.person_id is None else None
        sign = partial(self.app.sign, issued=self.app.clock.now(),
                       owner=owner_of(person_id=row.person_id, team_id=team_id), push_id=row.id)
        buttons = push_buttons(payload.get("actions", []), sign, row.task_id, row.id)
        return Reply(text, buttons=buttons)

    def _prepare(self, token: str, ids: list[int], now: datetime, report: DeliveryReport) -> list[_Job]:
        """Decide per claimed row: send it, postpone it (quiet hours), or close it. The weekly
        brief is computed once for the batch at ``now`` (text and picture agree, and a brief
        sent late is a current one); its picture is drawn after the transaction."""
        jobs: list[_Job] = []
        stale = timedelta(hours=self.rc.digest_stale_hours)
        brief: list = []  # [WeeklyBrief or None] once computed
        with self.app.sessions.begin() as session:
            rows = session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))
                                   .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)).all()
            person_ids = {row.person_id for row in rows if row.person_id}
            people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(person_ids)))}
            identities: dict[int, list[ChatIdentity]] = {}
            for identity in session.scalars(select(ChatIdentity).where(ChatIdentity.person_id.in_(person_ids))
                                            .order_by(ChatIdentity.bound_at.desc(), ChatIdentity.id.desc())):
                identities.setdefault(identity.person_id, []).append(identity)
            for row in rows:
                if row.kind == reminder_rules.ROBOT_DIGEST:
                    job = self._prepare_robot(session, row, now, stale, report)
                    if job is not None:
                        jobs.append(job)
                    continue
                person = people.get(row.person_id) if row.person_id else None
                if person is None or not person.active:
                    _close(row, report, reminder_rules.SKIPPED, "no such person")
                    continue
                if row.kind in reminder_rules.MUTABLE_KINDS and person.muted_until and person.muted_until > now:
                    _close(row, report, reminder_rules.SKIPPED, "muted")
                    continue
                if _postponed_for_quiet_hours(row, now, reminder_rules.quiet_of(person, self.rc), report):
                    continue
                late = self._is_late(row, now)
                if row.kind in reminder_rules.DIGEST_KINDS and now - row.due_at > stale:
                    newer = session.scalar(select(OutboxMessage.id).where(
                        OutboxMessage.person_id == row.person_id, OutboxMessage.kind == row.kind,
                        OutboxMessage.id > row.id).limit(1))
                    if newer is not None:
                        _close(row, report, reminder_rules.SUPERSEDED)
                        continue
                    # hours stale: one current digest instead of the old one
                    if row.kind == "digest":
                        text = (digests.digest_text(session, now, person.team_id, self.rc.digest_due_days)
                                if person.team_id else None)
                        if not text:
                            _close(row, report, reminder_rules.SKIPPED)
                            continue
                        row.payload = {**(row.payload or {}), "text": text}
                    late = True
                if row.kind == "brief":
                    if not brief:
                        brief.append(digests.brief_of(session, now, self.app.config))
                    if brief[0] is None:  # nothing to say any more
                        _close(row, report, reminder_rules.SKIPPED)
                        continue
                    row.payload = {**(row.payload or {}), "text": brief[0].as_text()}
                address = self._address(person, identities.get(person.id, []))
                if address is None:
                    _close(row, report, reminder_rules.NO_ADDRESS, "no bound chat on a running channel")
                    continue
                jobs.append(self._job(row, address[0], address[1], late, person.name))
        if brief and brief[0] is not None:
            self._attach_brief_picture(brief[0], [j for j in jobs if j.kind == "brief"], now)
        return jobs

    def _prepare_robot(self, session, row: OutboxMessage, now: datetime, stale: timedelta,
                       report: DeliveryReport) -> Optional[_Job]:
        """A team digest for the team's group robot: the address is the team's current robot
        key; the office's default quiet hours apply; a stale one is replaced by a current one."""
        team_id = (row.payload or {}).get("team_id")
        team = session.get(Team, team_id) if team_id is not None else None
        if team is None or not team.robot_key:
            _close(row, report, reminder_rules.NO_ADDRESS, "team has no group robot")
            return None
        if reminder_rules.ROBOT_CHANNEL not in self.notifiers.channels():
            _close(row, report, reminder_rules.NO_ADDRESS, "group robot channel not running")
            return None
        if _postponed_for_quiet_hours(row, now, self.rc.quiet_hours, report):
            return None
        late = self._is_late(row, now)
        if now - row.due_at > stale:
            newer = session.scalar(select(OutboxMessage.id).where(
                OutboxMessage.kind == reminder_rules.ROBOT_DIGEST,
                OutboxMessage.dedupe_key.like(f"digest-robot:{team.id}:%"),
                OutboxMessage.id > row.id).limit(1))
            text = None if newer is not None else digests.digest_text(session, now, team.id, self.rc.digest_due_days)
            if not text:
                _close(row, report, reminder_rules.SUPERSEDED if newer is not None else reminder_rules.SKIPPED)
                return None
            row.payload = {**(row.payload or {}), "text": text}
            late = True
        return self._job(row, reminder_rules.ROBOT_CHANNEL, team.robot_key, late, f"{team.name}群机器人")

    def _is_late(self, row: OutboxMessage, now: datetime) -> bool:
        """Marked late (补发) once, or sent more than the grace period after its moment."""
        return row.late or now - row.due_at > timedelta(minutes=self.rc.late_grace_minutes)

    def _job(self, row: OutboxMessage, channel: str, chat_id: str, late: bool, who: str) -> _Job:
        """Record the address on the row and hand back what to send."""
        row.channel, row.chat_id, row.late = channel, chat_id, late
        return _Job(row.id, channel, chat_id, self.render(row, late), row.kind, row.attempts, who)

    def _attach_brief_picture(self, brief, jobs: list[_Job], now: datetime) -> None:
        """Draw the weekly brief once and attach it to the briefs going to channels that take
        pictures (WeCom gets the text card only, as /brief does)."""
        takers = [job for job in jobs if self.notifiers.can_send_photos(job.channel)]
        if not takers:
            return
        path = self.app.out_dir / f"brief-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}.png"
        try:
            charts.render_brief(brief, path)
        except Exception:  # the text still goes out without the picture
            logger.exception("drawing the weekly brief failed; sending the text only")
            return
        caption = f"{brief.office}督办周报"
        for job in takers:
            job.reply.files.append(OutFile(str(path), "photo", caption))

    def _finish(self, token: str, job: _Job, now: datetime, error: Optional[BaseException]) -> str:
        """Record a send's outcome, fenced by the claim token: 0 rows means another worker
        holds the row now; this outcome is then logged and not counted."""
        mine = (OutboxMessage.id == job.row_id, OutboxMessage.claimed_by == token)
        with self.app.sessions.begin() as session:
            def fenced(**values) -> bool:
                result = cast(CursorResult, session.execute(
                    update(OutboxMessage).where(*mine)
                    .values(claimed_by=None, claimed_until=None, **values)
                    .execution_options(synchronize_session=False)))
                return result.rowcount == 1

            if error is None:
                if fenced(status=reminder_rules.SENT, sent_at=now, last_error=None, attempts=job.attempts + 1):
                    return "sent"
                logger.warning("push %s was sent by %s after its claim was lost; not counted as sent",
                               job.row_id, token)
                return "lost-claim"
            last_error = f"{error.__class__.__name__}: {error}"[:500]
            if isinstance(error, WaitExceedsLease):
                # nothing sent: give the row back for when the platform allows it (not an attempt)
                wait = min(max(float(error.retry_after or 0.0), 1.0), MAX_BACKOFF_SECONDS)
                if fenced(next_attempt_at=now + timedelta(seconds=wait), last_error=last_error):
                    return "released"
                return "lost-claim"
            attempts = job.attempts + 1
            permanent = isinstance(error, DeliveryError) and error.permanent
            if permanent or attempts >= self.rc.max_attempts:
                if not fenced(status=reminder_rules.FAILED, attempts=attempts, last_error=last_error):
                    return "lost-claim"
                row = session.get_one(OutboxMessage, job.row_id)  # the fenced UPDATE just found it
                if row.kind != "admin":
                    outbox_store.warn_admins(session, now, f"giveup:{row.id}",
                                    f"⚠️ 推送失败已放弃(第{attempts}次)\n收件人:{job.person_name}"
                                    f"({job.channel})\n内容:{(row.payload or {}).get('text', '')[:60]}"
                                    f"\n原因:{last_error[:120]}")
                return "failed"
            delay = self.rc.retry_base_seconds * (2 ** (attempts - 1))
            retry_after = getattr(error, "retry_after", None)
            if retry_after:
                delay = max(delay, float(retry_after))
            if fenced(attempts=attempts, last_error=last_error,
                      next_attempt_at=now + timedelta(seconds=min(delay, MAX_BACKOFF_SECONDS))):
                return "retry"
            return "lost-claim"

    async def deliver(self, now: Optional[datetime] = None, limit: int = 100) -> DeliveryReport:
        """Claim up to ``limit`` due rows and send them (``concurrency`` at a time)."""
        now = now or self.app.clock.now()
        report = DeliveryReport()
        token, ids = await self.app.workers.run(self.claim, now, limit)
        if not ids:
            return report
        jobs = await self.app.workers.run(self._prepare, token, ids, now, report)
        gate = asyncio.Semaphore(self.concurrency)

        lease_until = now + timedelta(seconds=self.rc.claim_seconds)
        half = timedelta(seconds=self.rc.claim_seconds / 2)

        async def one(job: _Job) -> None:
            async with gate:
                until = lease_until
                if until - self.app.clock.now() < half:  # queued a while: renew (fenced) before sending
                    renewed = await self.app.workers.run(self.renew, token, job.row_id)
                    if renewed is None:
                        logger.warning("push %s: claim lost before sending; left to its new owner", job.row_id)
                        report.skipped.append(job.row_id)
                        return
                    until = renewed
                max_wait = max(0.0, (until - self.app.clock.now()).total_seconds() - self.lease_margin())
                error: Optional[BaseException] = None
                try:
                    if self.limits is not None:  # several instances: the shared pace first
                        max_wait -= await self.limits.acquire(job.channel, job.chat_id, max_wait)
                    await self.notifiers.send(job.channel, job.chat_id, job.reply, max_wait=max(0.0, max_wait))
                except DeliveryError as exc:
                    error = exc
                except Exception as exc:  # network trouble: retry later
                    error = exc
                if error is not None:
                    logger.warning("push %s to %s:%s failed: %s", job.row_id, job.channel, job.chat_id, error)
                done_at = self.app.clock.now()
                outcome = await self.app.workers.run(self._finish, token, job, max(done_at, now), error)
                self.app.metrics.send_finished(job.channel, outcome, error)
                {"sent": report.sent, "retry": report.retried, "failed": report.failed,
                 "released": report.postponed}.get(outcome, report.skipped).append(job.row_id)

        async def in_order(group: list[_Job]) -> None:
            for job in group:
                await one(job)

        await asyncio.gather(*(in_order(group) for group in by_chat(jobs)))
        return report

    async def deliver_all(self, now: Optional[datetime] = None, limit: int = 100) -> DeliveryReport:
        """Deliver until nothing due is left at ``now`` (or only retries scheduled later)."""
        total = DeliveryReport()
        while True:
            report = await self.deliver(now, limit)
            total = total + report
            if report.handled == 0:
                return total

    async def deliver_async(self) -> None:
        try:
            report = await self.deliver_all()
            if report.handled:
                logger.info("outbox: %d sent, %d retry, %d failed, %d skipped, %d postponed",
                            len(report.sent), len(report.retried), len(report.failed),
                            len(report.skipped), len(report.postponed))
        except Exception:  # a failed delivery round must not stop the scheduler
            logger.exception("outbox delivery failed")

    async def catch_up(self) -> DeliveryReport:
        """On start: record what was missed while down (marked late) and send it once."""
        await self.app.workers.run(self.tick)
        return await self.deliver_all()
