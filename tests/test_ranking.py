"""考核 and 排名 of the 专班 (/rank): figures per team from SQL, the score from config weights,
a team lead's own row marked, cadres refused, the weekly brief naming the top and bottom."""
from datetime import date

from PIL import Image
from sqlalchemy import select

from bot.clock import parse_now
from bot.models import Task
from bot.services import charts, ranking, reports
from bot.services.lights import refresh_light_dates


def edit(app, key, **values):
    with app.sessions.begin() as session:
        task = session.scalar(select(Task).where(Task.key == key))
        for name, value in values.items():
            setattr(task, name, value)
        refresh_light_dates(task, app.config.lights)


def setup_december(app, chat_as, clock):
    """项目一专班: 纳图电气 closed (reported and approved), 中德电力装备产业园 交办 but not
    signed, 3 催办, never reported (red). 招商一专班: its target overdue since 12-10."""
    clock.set(parse_now("2025-12-15T09:00"))
    chat_as("王干部").say("/update 纳图电气 100% 竣工投产")
    chat_as("李组长").say("通过 纳图电气")
    edit(app, "sino_german_power_park", urge_count=3, assigned_at=clock.now())
    edit(app, "target_provincial_key_project", deadline=date(2025, 12, 10))
    clock.set(parse_now("2025-12-20T09:00"))


def test_team_figures_and_scores(app, chat_as, clock):
    setup_december(app, chat_as, clock)
    with app.sessions() as session:
        scores = {s.name: s for s in ranking.compute(session, clock.now(), app.config.ranking)}
    xm1, zs1 = scores["项目一专班"], scores["招商一专班"]
    assert (xm1.tasks, xm1.due, xm1.on_time, xm1.overdue, xm1.red, xm1.unsigned, xm1.urges) == (2, 1, 1, 0, 1, 1, 3)
    assert xm1.gap_days == 30.0  # 1 report in 30 days for 1 open task
    # 100 + 1.0×20 − red 1×2 − unsigned 1×1 − 催办 3×0.5 − (30−14)×1
    assert xm1.score == 99.5
    assert (zs1.tasks, zs1.due, zs1.on_time, zs1.overdue, zs1.red, zs1.unsigned, zs1.urges) == (1, 1, 0, 1, 1, 0, 0)
    assert zs1.gap_days is None and zs1.score == 79.0  # 100 + 0 − 5 − (30−14)
    ranked = list(scores.values())
    assert [s.rank for s in sorted(ranked, key=lambda s: s.rank)] == list(range(1, 12))
    assert max(ranked, key=lambda s: s.rank).name == "招商一专班"


def test_on_time_is_against_the_original_deadline(app, chat_as, clock):
    # the deadline moved from 12-01 to 12-31; closed on 12-15: late against 原时限
    edit(app, "sino_german_power_park", original_deadline=date(2025, 12, 1))
    clock.set(parse_now("2025-12-15T09:00"))
    chat_as("李组长").say("/update 中德电力装备产业园 100% 投产")
    chat_as("张主任").say("通过 中德电力装备产业园")
    with app.sessions() as session:
        xm1 = next(s for s in ranking.compute(session, clock.now(), app.config.ranking) if s.name == "项目一专班")
    assert (xm1.due, xm1.on_time) == (1, 0)


def test_rank_command_marks_the_team_leads_row(app, chat_as, clock):
    setup_december(app, chat_as, clock)
    lead = chat_as("李组长").say("/rank").splitlines()
    assert lead[0] == "🏆 专班考核排名(12月20日,共11个专班)"
    mine = [line for line in lead if line.startswith("👉")]
    assert len(mine) == 1 and mine[0].endswith(". 项目一专班 99.5分")
    row = lead[lead.index(mine[0]) + 1]
    assert row == "   2项 按期100% 逾期0 红灯1 未签收1 报送间隔30天 催办3"
    assert lead[-3:-1] == ["11. 招商一专班 79.0分", "   1项 按期0% 逾期1 红灯1 未签收0 报送间隔无报送 催办0"]
    assert lead[-1] == "得分=100+按期办结率×20−逾期×5−红灯×2−未签收×1−催办×0.5−报送间隔超14天每天×1"
    leader = chat_as("张主任").say("排名")
    assert "👉" not in leader and leader.splitlines()[1:] == [line.lstrip("👉") for line in lead[1:]]
    assert chat_as("陈主任").say("考核") == leader
    assert chat_as("王干部").say("专班排名") == "排名只对专班负责人和领导开放。"


def test_weights_come_from_config(app, chat_as, clock):
    setup_december(app, chat_as, clock)
    app.config.ranking.report_gap_penalty = 0
    app.config.ranking.overdue_penalty = 10
    with app.sessions() as session:
        scores = {s.name: s.score for s in ranking.compute(session, clock.now(), app.config.ranking)}
    assert (scores["项目一专班"], scores["招商一专班"]) == (115.5, 90.0)


def test_weekly_brief_names_top_and_bottom(app, chat_as, clock):
    setup_december(app, chat_as, clock)
    with app.sessions() as session:
        brief = reports.weekly_brief(session, clock.now(), app.config)
    text = brief.as_text().splitlines()
    start = text.index("【专班排名(11个)】")
    assert text[start + 1].startswith("前3:1.")
    assert text[start + 2].startswith("后3:9.") and text[start + 2].endswith("11.招商一专班79.0")


def test_brief_picture_has_the_ranking(app, chat_as, clock, tmp_path):
    setup_december(app, chat_as, clock)
    with app.sessions() as session:
        brief = reports.weekly_brief(session, clock.now(), app.config)
    with_ranking = charts.render_brief(brief, tmp_path / "with.png")
    brief.ranking = []
    without = charts.render_brief(brief, tmp_path / "without.png")
    with Image.open(with_ranking) as a, Image.open(without) as b:
        assert a.size[0] == b.size[0] == 1080 and a.size[1] > b.size[1]


def test_a_silent_team_with_nothing_due_earns_no_on_time_points(app, clock):
    clock.set(parse_now("2026-01-05T09:00"))
    with app.sessions() as session:
        scores = {s.name: s for s in ranking.compute(session, clock.now(), app.config.ranking)}
    silent = scores["项目四专班"]  # 3 tasks, none due, never reported
    assert (silent.on_time_rate, silent.gap_days, silent.score) == (None, None, 84.0)  # 100 − (30 − 14)
    assert silent.score < 100
