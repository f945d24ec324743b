"""Task lists: overdue, red, due soon, by team, mine; most urgent first; pages and buttons."""
from datetime import date

from sqlalchemy import select

from bot.clock import parse_now
from bot.models import Task
from tests.conftest import Chat


def test_nothing_overdue_in_july_says_what_comes_next(chat_as):
    # the report's dated tasks are the 18 year-end targets: 2025-12-31 is 169 days after 07-15
    assert chat_as("张主任").say("/tasks overdue") == (
        "逾期事项:没有。\n最近的时间节点:2025-12-31(18项,169天后)。发 /due 169 查看。")
    assert chat_as("张主任").say("/due 169").startswith("169天内到期(共18项")


def test_overdue_after_year_end_most_urgent_first(app, chat_as, clock):
    with app.sessions.begin() as session:
        # one task due earlier, so it is more urgent than the year-end targets
        task = session.scalar(select(Task).where(Task.key == "gujin_museum"))
        task.deadline = date(2025, 11, 30)
    clock.set(parse_now("2026-01-05T10:00"))
    answer = chat_as("张主任").say("/tasks overdue")
    lines = answer.splitlines()
    assert lines[0] == "逾期事项(共19项,第1/3页)"
    assert lines[1].startswith("🔴 古今文创博物馆") and "逾期36天" in lines[1]
    assert all(line.startswith("🔴") and "逾期5天" in line for line in lines[2:])


def test_list_has_buttons_for_tasks_and_pages(app, chat_as, clock):
    clock.set(parse_now("2026-01-05T10:00"))
    chat = chat_as("张主任")
    replies = chat.replies("/tasks overdue")
    labels = [b.label for row in replies[0].buttons for b in row]
    assert "下一页" in labels
    page2 = chat.press("下一页", replies)
    assert page2[0].edit and page2[0].text.startswith("逾期事项(共18项,第2/3页)")


def test_due_within_days(app, chat_as, clock):
    clock.set(parse_now("2025-12-26T08:30"))
    answer = chat_as("张主任").say("/due 7")
    assert answer.startswith("7天内到期(共18项")
    assert chat_as("张主任").say("/due 2") == "2天内到期:没有。"
    assert chat_as("张主任").say("/due 很多") == "天数请写数字,例如:/due 7"


def test_mine_and_team(app, chat_as):
    mine = chat_as("王干部").say("/tasks mine")
    assert mine.startswith("我的事项(共") and "纳图电气" in mine
    team = chat_as("张主任").say("/tasks 项目一专班")
    assert team.startswith("项目一专班事项(共")
    assert chat_as("张主任").say("/tasks 火星专班").startswith("看不懂“火星专班”")


def test_red_list_after_a_low_report(app, chat_as):
    with app.sessions.begin() as session:
        task = session.scalar(select(Task).where(Task.key == "natu_electric"))
        task.deadline = date(2025, 12, 31)
    chat_as("王干部").say("/update 纳图电气 10% 刚开工")
    red = chat_as("张主任").say("/tasks red")
    assert red.startswith("红灯事项(共1项)")
    assert "🔴 纳图电气 10%" in red and "慢于序时进度44个百分点" in red


def test_lists_follow_changes_made_after_they_were_shown(app, chat_as):
    with app.sessions.begin() as session:
        session.scalar(select(Task).where(Task.key == "natu_electric")).deadline = date(2025, 12, 31)
    leader = chat_as("张主任")
    assert leader.say("/tasks red") == "红灯事项:没有。"
    chat_as("王干部").say("/update 纳图电气 10% 刚开工")
    assert leader.say("/tasks red").startswith("红灯事项(共1项)")
    chat_as("王干部").say("/update 纳图电气 60% 追上进度")
    assert leader.say("/tasks red") == "红灯事项:没有。"


def test_help_shows_what_each_role_may_do(app):
    leader = Chat(app, "陈主任").say("/help")
    cadre = Chat(app, "王干部").say("/help")
    assert "/update" not in leader and "/approve" in leader and "/invite" not in leader
    assert "/update" in cadre and "/approve" not in cadre and "/start" not in cadre
