"""Retention: the hourly job removes generated files and finished pushes past their age, keeps
everything younger and everything still to be sent; the daily backup runs once a day."""
from __future__ import annotations

import os
from datetime import timedelta

from sqlalchemy import select, update

from bot.models import OutboxMessage
from bot.services import outbox_store
from bot.services.housekeeping import sweep
from jobs.scheduler import run_daily_backup


def test_old_files_and_finished_pushes_are_removed(app, clock):
    now = clock.now()
    old_file, new_file = app.out_dir / "ledger-old.xlsx", app.out_dir / "charts" / "new.png"
    new_file.parent.mkdir(parents=True, exist_ok=True)
    for path, age in ((old_file, 8), (new_file, 6)):
        path.write_bytes(b"x")
        stamp = (now - timedelta(days=age)).timestamp()
        os.utime(path, (stamp, stamp))
    rows = {"sent-old": ("sent", 91), "sent-new": ("sent", 89), "failed-old": ("failed", 181),
            "failed-new": ("failed", 100), "pending-old": ("pending", 400)}
    with app.sessions.begin() as session:
        for key, (status, age) in rows.items():
            when = now - timedelta(days=age)
            outbox_store.push(session, when, key, "admin", 1, key, due_at=when)
            session.execute(update(OutboxMessage).where(OutboxMessage.dedupe_key == key)
                            .values(status=status, sent_at=when if status == "sent" else None))
    with app.sessions.begin() as session:
        swept = sweep(session, now, app.config, app.out_dir)
    assert (swept.outbox, swept.files) == (2, 1)
    assert not old_file.exists() and new_file.exists()
    with app.sessions() as session:
        assert sorted(session.scalars(select(OutboxMessage.dedupe_key))) == ["failed-new", "pending-old", "sent-new"]


def test_daily_backup_runs_once_a_day_and_prunes(sqlite_app, clock, tmp_path):
    app = sqlite_app
    app.config.backup.dir = str(tmp_path / "backups")
    first = run_daily_backup(app)
    assert len(first) == 1 and first[0].exists()
    clock.advance(timedelta(hours=3))
    assert run_daily_backup(app) == []  # today's is done (by this or another instance)
    clock.advance(timedelta(days=20))
    later = run_daily_backup(app)
    assert later[0].exists() and later[1:] == [first[0]]  # the 20-day-old one is pruned
    assert sorted(p.name for p in (tmp_path / "backups").glob("*.tar.gz")) == [later[0].name]
