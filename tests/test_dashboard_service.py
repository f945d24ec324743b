"""The 驾驶舱's read service and access records on both databases (SQLite and PostgreSQL):
the numbers agree with the chat's lights, every list runs, links are single-use."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.models import Instruction, Person, Task
from bot.services import dashboard as dash
from bot.services import web_access
from bot.services.reports import weekly_brief
from bot.services.task_lists import light_counts


def test_overview_agrees_with_the_chat_lights(app, clock):
    clock.set(clock.now().replace(year=2026, month=1, day=5))
    with app.sessions.begin() as session:
        now = clock.now()
        natu = session.scalar(select(Task).where(Task.name == "纳图电气"))
        session.add(Instruction(task_id=natu.id, leader_id=1, text="抓紧调试", created_at=now - timedelta(days=1)))
        natu.assigned_at = now - timedelta(days=2)
        session.flush()
        data = dash.overview(session, now, dash.Scope())
        assert data.totals == light_counts(session, now)
        assert data.total == 94 == sum(row.total for row in data.matrix)
        assert data.totals["red"] == 18 and data.lists["overdue"].total == 18
        # the never-reported year-end targets were red long before (behind 序时进度), so none
        # of them turned red this week: the same count the weekly brief gives
        brief = weekly_brief(session, now, app.config)
        assert data.lists["turned_red"].total == len(brief.turned_red) == 0
        assert data.overdue_buckets[0] == ("1-7天", 18)
        assert [r.name for r in data.lists["instructions"].rows] == ["纳图电气"]
        assert "抓紧调试" in data.lists["instructions"].rows[0].note
        assert [r.name for r in data.lists["unsigned"].rows] == ["纳图电气"]
        assert {r.name for r in data.ranking} >= {"项目一专班", "招商一专班"}
        assert data.ranking[0].score >= data.ranking[-1].score

        cadre = session.scalar(select(Person).where(Person.name == "王干部"))
        own = dash.overview(session, now, dash.scope_of(cadre))
        assert own.total == 2 and [r.name for r in own.matrix] == ["项目一专班"]
        page = dash.task_page(session, now, natu.id)
        assert page.team == "项目一专班" and page.owner == "王干部"
        assert dash.scope_of(cadre).allows(natu)
        groups = dash.indicator_groups(session)
        assert [name for name, _ in groups][:2] == ["经济运行", "招商引资"]


def test_link_is_single_use_and_revocable(app, clock):
    key = app.web_key()
    with app.sessions.begin() as session:
        person = session.scalar(select(Person).where(Person.name == "李组长"))
        token = web_access.new_link(session, clock.now(), key, person, 10)
    with app.sessions.begin() as session:
        check, secret = web_access.use_link(session, clock.now(), key, token, 10)
        assert check.problem is None and secret
    with app.sessions.begin() as session:
        assert web_access.use_link(session, clock.now(), key, token, 10)[0].problem == "used"
        assert web_access.session_person(session, clock.now(), key, secret).name == "李组长"
        admin = session.scalar(select(Person).where(Person.name == "张主任"))
        lead = session.scalar(select(Person).where(Person.name == "李组长"))
        assert web_access.revoke_person(session, clock.now(), admin, lead) == 1
    with app.sessions.begin() as session:
        assert web_access.session_person(session, clock.now(), key, secret) is None
