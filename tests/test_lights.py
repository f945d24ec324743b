"""Traffic lights: deadline, progress against 序时进度, staleness; SQL and Python agree."""
from datetime import date, datetime

import pytest
from sqlalchemy import select

from bot.clock import OFFICE_TZ
from bot.config import LightsConfig
from bot.models import Task
from bot.services.lights import light_of, light_sql, refresh_light_dates

RULES = LightsConfig(behind_yellow_pp=10, behind_red_pp=30, due_soon_days=3, stale_days=14)


def make_task(progress, start=date(2025, 1, 1), deadline=date(2025, 12, 31),
              last_activity=datetime(2025, 7, 10, 9, 0, tzinfo=OFFICE_TZ), status="active"):
    task = Task(key="t", name="t", category="c", status=status, progress=progress,
                start_date=start, deadline=deadline, last_activity_at=last_activity,
                created_at=last_activity)
    refresh_light_dates(task, RULES)
    return task


# 2025-01-01 .. 2025-12-31 is a 364-day span; on 2025-07-15 (195 days in) 序时进度 is 53.6%.
@pytest.mark.parametrize("progress, expected", [
    (60, "green"),    # ahead of schedule
    (50, "green"),    # 3.6 points behind: within tolerance
    (43, "yellow"),   # 10.6 points behind
    (30, "yellow"),   # 23.6 points behind
    (23, "red"),      # 30.6 points behind
    (None, "red"),    # never reported: counts as 0%, 53.6 points behind
])
def test_light_from_progress_against_schedule(progress, expected):
    assert light_of(make_task(progress), date(2025, 7, 15)).color == expected


def test_overdue_is_red_and_says_how_long():
    task = make_task(90, deadline=date(2025, 7, 1))
    light = light_of(task, date(2025, 7, 15))
    assert light.color == "red"
    assert "逾期14天" in light.reasons


def test_due_soon_is_yellow():
    task = make_task(95, start=date(2025, 7, 1), deadline=date(2025, 7, 17))
    light = light_of(task, date(2025, 7, 15))
    assert light.color == "yellow" and "2天后到期" in light.reasons


def test_stale_task_turns_yellow_after_configured_days():
    task = make_task(60, last_activity=datetime(2025, 7, 1, 9, tzinfo=OFFICE_TZ))
    assert light_of(task, date(2025, 7, 14)).color == "green"
    light = light_of(task, date(2025, 7, 15))
    assert light.color == "yellow" and "14天未报进展" in light.reasons


def test_done_and_paused_are_not_lit():
    assert light_of(make_task(100, status="done", deadline=date(2025, 1, 2)), date(2025, 7, 15)).color == "done"
    assert light_of(make_task(10, status="paused"), date(2025, 7, 15)).color == "paused"


def test_sql_light_matches_python_light(app):
    """Lists filter with the SQL expression; cards use Python: they must never disagree."""
    cases = [
        dict(progress=p, start=date(2025, 3, 1), deadline=d, last_activity=a)
        for p in (None, 0, 25, 50, 80, 100)
        for d in (date(2025, 7, 10), date(2025, 7, 17), date(2025, 9, 30), None)
        for a in (datetime(2025, 6, 1, tzinfo=OFFICE_TZ), datetime(2025, 7, 14, tzinfo=OFFICE_TZ))
    ]
    with app.sessions.begin() as session:
        for i, case in enumerate(cases):
            task = make_task(**case)
            task.key, task.name = f"case{i}", f"测试事项{i}"
            session.add(task)
    for day in (date(2025, 7, 1), date(2025, 7, 15), date(2025, 8, 20), date(2025, 10, 1)):
        with app.sessions() as session:
            rows = session.execute(select(Task, light_sql(day)).where(Task.key.like("case%"))).all()
            assert len(rows) == len(cases)
            for task, sql_light in rows:
                assert sql_light == light_of(task, day).color, (task.key, day)


def test_thresholds_come_from_config(app, tmp_path, clock):
    from bot.composition import build_app
    from tests.conftest import make_config

    strict = make_config(str(app.engine.url.render_as_string(hide_password=False)), tmp_path,
                         lights={"behind_yellow_pp": 1, "behind_red_pp": 2})
    with app.sessions.begin() as session:
        task = session.scalar(select(Task).where(Task.key == "natu_electric"))
        task.start_date, task.deadline, task.progress = date(2025, 1, 1), date(2025, 12, 31), 50
        refresh_light_dates(task, app.config.lights)
    with app.sessions() as session:
        task = session.scalar(select(Task).where(Task.key == "natu_electric"))
        assert light_of(task, clock.today()).color == "green"   # 3.6 behind, yellow needs 10
    build_app(strict, clock)  # start-up notices the new thresholds and relights every task
    with app.sessions() as session:
        task = session.scalar(select(Task).where(Task.key == "natu_electric"))
        assert light_of(task, clock.today()).color == "red"
