"""The weekly brief: lights by team, tasks that turned red this week (not those red before),
tasks due in the week ahead, indicators updated this week; as text and as one picture."""
from __future__ import annotations

import warnings
from datetime import date, timedelta

from PIL import Image
from sqlalchemy import select, update

from bot.models import IndicatorValue, Task
from bot.services import charts, reports
from bot.services.lights import refresh_light_dates
from tests.conftest import Chat, requires_cjk_font


def set_task(app, name: str, **values) -> None:
    with app.sessions.begin() as s:
        task = s.scalar(select(Task).where(Task.name == name))
        for key, value in values.items():
            setattr(task, key, value)
        refresh_light_dates(task, app.config.lights)


def test_weekly_brief_data(app, clock):
    today = clock.now().date()  # 2025-07-15
    set_task(app, "纳图电气", deadline=today - timedelta(days=3))        # red since 07-13: this week
    set_task(app, "祺胜新材料", deadline=today - timedelta(days=20))     # red for weeks: not "turned"
    set_task(app, "昱智尔", deadline=today + timedelta(days=3), progress=95.0)  # due in the week ahead
    set_task(app, "常州制药厂多肽药物", start_date=date(2025, 1, 1), deadline=date(2025, 12, 31),
             progress=22.6)  # 30 points behind 序时进度 from 2025-07-12: turned red by falling behind
    with app.sessions.begin() as s:  # one indicator was recorded long ago
        s.execute(update(IndicatorValue).where(IndicatorValue.id == s.scalar(
            select(IndicatorValue.id).join(IndicatorValue.indicator).where(
                IndicatorValue.indicator.has(key="budget_revenue"))))
            .values(recorded_at=clock.now() - timedelta(days=30)))
    with app.sessions() as s:
        brief = reports.weekly_brief(s, clock.now(), app.config)
    assert (brief.start, brief.end) == (date(2025, 7, 8), today)
    assert sum(t.total for t in brief.teams) == 94
    xm1 = next(t for t in brief.teams if t.name == "项目一专班")
    assert xm1.counts.get("red") == 1
    assert [(i.name, i.when, i.why) for i in brief.turned_red] == [
        ("纳图电气", date(2025, 7, 13), ",逾期"), ("常州制药厂多肽药物", date(2025, 7, 12), ",进度滞后")]
    assert [(i.name, i.when) for i in brief.due_next] == [("昱智尔", date(2025, 7, 18))]
    names = [i.name for i in brief.indicators]
    assert len(names) == 61 and "一般公共预算收入" not in names and names[0] == "规上工业总产值"

    text = brief.as_text()
    assert text.startswith("📊 雕庄街道督办周报(07-08~07-15)")
    assert "【本周转红(2)】" in text and "07-13 纳图电气(项目一专班·王干部),逾期" in text
    assert "【下周到期 07-16~07-22(1)】" in text and "昱智尔" in text and "进度95%" in text
    assert "【指标更新(61)】" in text and "……等61项" in text
    assert "全部事项:红灯3 黄灯1 未报88 已完成2" in text


@requires_cjk_font
def test_brief_command_sends_one_picture_and_the_text(sqlite_app, clock):
    set_task(sqlite_app, "纳图电气", deadline=clock.now().date() - timedelta(days=1))
    chat = Chat(sqlite_app, "张主任")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        replies = chat.replies("周报")
    assert [str(w.message) for w in caught if "missing from font" in str(w.message)] == []
    assert len(replies) == 1 and "本周转红(1)" in replies[0].text
    [picture] = replies[0].files
    assert picture.kind == "photo" and picture.caption == "雕庄街道督办周报"
    with Image.open(picture.path) as image:
        assert image.format == "PNG" and image.size[0] == 1080


@requires_cjk_font
def test_brief_picture_uses_the_cjk_font(sqlite_app, clock, tmp_path):
    with sqlite_app.sessions() as s:
        brief = reports.weekly_brief(s, clock.now(), sqlite_app.config)
    fonts: set[str] = set()
    charts.render_brief(brief, tmp_path / "brief.png", fonts_used=fonts)
    assert fonts and all("wqy" in f.lower() or "cjk" in f.lower() or "fallback" in f.lower()
                         or "sourcehan" in f.lower() for f in fonts), fonts


def test_empty_database_brief(tmp_path, clock):
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'empty.sqlite3'}", tmp_path, clock, load=False)
    with app.sessions() as s:
        brief = reports.weekly_brief(s, clock.now(), app.config)
    assert brief.teams == [] and "【本周转红(0)】\n无" in brief.as_text()
    assert Image.open(charts.render_brief(brief, tmp_path / "b.png")).size[0] == 1080


def test_brief_on_wecom_is_a_text_card(sqlite_app, clock):
    from bot.messages import Incoming
    from bot.models import Person
    from handlers.context import Ctx
    from handlers.ledgers import cmd_brief

    with sqlite_app.sessions() as s:
        person = s.scalar(select(Person).where(Person.name == "陈主任"))
        msg = Incoming(channel="wecom", chat_id="chen", user_id="chen")
        reply = cmd_brief(Ctx(sqlite_app, s, clock.now(), msg, person), "")
    assert reply.files == [] and reply.text.startswith("📊 雕庄街道督办周报")


def test_cli_chart_and_brief(sqlite_app, tmp_path, capsys):
    import run

    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: {sqlite_app.config.database.url}\n", encoding="utf-8")
    out = tmp_path / "社零.png"
    assert run.main(["--config", str(config), "chart", "社零", str(out)]) == 0
    assert Image.open(out).size[0] == 1080
    assert run.main(["--config", str(config), "chart", "没有这个", str(out)]) == 2
    picture = tmp_path / "brief.png"
    assert run.main(["--config", str(config), "brief", "--now", "2025-07-15T09:00", str(picture)]) == 0
    printed = capsys.readouterr().out
    assert "📊 雕庄街道督办周报(07-08~07-15)" in printed and "没有找到指标“没有这个”" in printed
    assert Image.open(picture).size[0] == 1080
