"""The timeline (时间轴): every step of the cycle and every update, newest first, paged."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.clock import parse_now
from bot.models import Task
from bot.services.timeline import timeline_page
from tests.conftest import Chat

NAME = "老旧小区改造"


def step(app, minutes=10):
    app.clock.advance(timedelta(minutes=minutes))


def run_cycle(app):
    zhang, li, wang = Chat(app, "张主任"), Chat(app, "李组长"), Chat(app, "王干部")
    zhang.say(f"交办 {NAME} 项目一专班 王干部 2025-12-31 会议")
    zhang.say("确定")                                                   # 09:00 交办
    step(app)
    wang.say(f"签收 {NAME}")                                             # 09:10 签收
    step(app)
    wang.say(f"/update {NAME} 20% 完成摸排 问题:资金未到位 下步:招标")     # 09:20 进展
    step(app)
    zhang.say(f"批示 {NAME} 加快资金落实")                                # 09:30 批示
    step(app)
    wang.say(f"反馈 {NAME} 已报财政所")                                   # 09:40 反馈
    step(app)
    li.say(f"催办 {NAME} 本周报招标进展")                                  # 09:50 催办
    step(app)
    li.say(f"/set {NAME} 截止 2026-01-31")                               # 10:00 修改
    return zhang


def test_the_whole_cycle_newest_first(app):
    zhang = run_cycle(app)
    assert zhang.say(f"时间轴 {NAME}") == "\n".join([
        f"🕘 {NAME} 时间轴(共7条)",
        "· 今天10:00 修改 李组长:时间节点:2025-12-31 → 2026-01-31",
        "· 今天09:50 催办 李组长:本周报招标进展",
        "· 今天09:40 反馈 王干部:已报财政所",
        "· 今天09:30 批示 张主任:加快资金落实",
        "· 今天09:20 进展 王干部:20% 完成摸排;问题:资金未到位;下步:招标",
        "· 今天09:10 签收 王干部",
        "· 今天09:00 交办 张主任:项目一专班·王干部,截止2025-12-31,来源:会议",
    ])


def test_card_button_and_paging(app):
    zhang = run_cycle(app)
    wang = Chat(app, "王干部")
    for pct in (30, 40, 50):
        step(app, 60)
        wang.say(f"/update {NAME} {pct}% 推进")
    card = zhang.replies(NAME)
    first = zhang.press("时间轴", card)[0]
    lines = first.text.splitlines()
    assert lines[0] == f"🕘 {NAME} 时间轴(共10条,第1/2页)"
    assert lines[1] == "· 今天13:00 进展 王干部:50% 推进"
    assert len(lines) == 1 + app.config.lists.page_size
    assert [b.label for row in first.buttons for b in row] == ["下一页"]
    second = zhang.press("下一页", [first])[0]
    assert second.edit is True
    assert second.text.splitlines() == [f"🕘 {NAME} 时间轴(共10条,第2/2页)",
                                        "· 今天09:10 签收 王干部",
                                        "· 今天09:00 交办 张主任:项目一专班·王干部,截止2025-12-31,来源:会议"]
    assert [b.label for row in second.buttons for b in row] == ["上一页"]
    assert zhang.say(f"/timeline {NAME} 第2页") == second.text
    # a channel without buttons gets the command for the next page
    plain = zhang.replies(f"/timeline {NAME}", buttons_supported=False)[0].text
    assert plain.endswith(f"\n下一页:/timeline {NAME} 第2页")


def test_empty_and_unknown(app, chat_as):
    zhang = chat_as("张主任")
    assert zhang.say("时间轴 纳图电气") == "🕘 纳图电气 时间轴:还没有记录。"
    assert zhang.say("时间轴 月球基地").startswith("没有找到事项“月球基地”")
    assert zhang.say("/timeline") == "请写事项名称,例如:/timeline 纳图电气"
    assert chat_as("王干部").say("/timeline 纳图电气 第9页") == "🕘 纳图电气 时间轴:还没有记录。"


def test_page_beyond_the_end_shows_the_last(app):
    run_cycle(app)
    with app.sessions() as session:
        task = session.scalar(select(Task).where(Task.name == NAME))
        page = timeline_page(session, task, page=5, page_size=3)
    assert (page.page, page.pages, page.total, [e.kind for e in page.entries]) == (3, 3, 7, ["assign"])


def test_updates_and_events_at_the_same_minute_keep_a_stable_order(app):
    app.clock.set(parse_now("2025-07-15T09:00"))
    run_cycle(app)
    with app.sessions() as session:
        task = session.scalar(select(Task).where(Task.name == NAME))
        first = [e.text for e in timeline_page(session, task, 1, 3).entries]
        again = [e.text for e in timeline_page(session, task, 1, 3).entries]
    assert first == again
