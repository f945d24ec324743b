"""Every misreading listed under "Why" in issue 11, as a test (each fails on the code before
the understanding layer): lists in words, team questions, progress in words, safe targets,
strict numbers, comparisons, related figures, typed button labels, drafts, dates in words."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.models import Conversation, OutboxMessage, Task, TaskUpdate
from bot.services.outbox_store import push


def recorded(app):
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(TaskUpdate))


def progress(app, key="natu_electric"):
    with app.sessions() as session:
        return session.scalar(select(Task.progress).where(Task.key == key))


# ---- lists in words, counts, pages, team questions

@pytest.mark.parametrize("who, text, title", [
    ("张主任", "红灯的事项有哪些", "红灯事项"),
    ("张主任", "这周到期的", "本周内到期"),
    ("张主任", "十天内到期的事项", "10天内到期"),
    ("王干部", "我的任务", "我的事项"),
    ("李组长", "我们专班的事项", "项目一专班事项"),
    ("张主任", "谁还没报进度", "7天以上未报进展"),
    ("张主任", "落后序时进度的", "落后序时进度"),
])
def test_lists_in_words(app, chat_as, who, text, title):
    assert chat_as(who).say(text).startswith(title)


def test_count_when_asked_how_many(app, chat_as):
    answer = chat_as("张主任").say("逾期的有多少项")
    assert answer.startswith("逾期事项:一共0项。")


def test_next_page_after_a_list(app, chat_as):
    chat = chat_as("张主任")
    assert "第1/" in chat.say("/tasks")
    assert "第2/" in chat.say("下一页")
    assert "第3/" in chat.say("第3页")
    assert "第2/" in chat.say("上一页")


def test_team_question_goes_to_the_team_not_an_indicator(app, chat_as):
    answer = chat_as("张主任").say("项目一专班情况怎么样")
    assert answer.startswith("【项目一专班】共")
    assert "重点项目专班" not in answer  # the indicator whose name merely contains 专班


# ---- progress in words: proposed, never silently recorded or dropped

@pytest.mark.parametrize("text, value", [
    ("纳图电气 百分之三十 桩基施工", 30),
    ("纳图电气 六成 钢结构吊装", 60),
    ("纳图电气 八十五% 消防验收", 85),
    ("纳图电气 七十五", 75),
])
def test_progress_in_words_is_proposed_then_recorded(app, chat_as, text, value):
    chat = chat_as("王干部")
    replies = chat.replies(text)
    assert replies[0].text.startswith(f"记为:纳图电气 {value}%")
    assert [b.label for b in replies[0].buttons[0]] == ["确定", "改一下", "取消"]
    assert recorded(app) == 0
    assert chat.press("确定", replies)[0].text.startswith(f"✅ 已记录:纳图电气 {value}%")
    assert progress(app) == value


def test_a_proposal_can_be_cancelled(app, chat_as):
    chat = chat_as("王干部")
    replies = chat.replies("纳图电气 六成")
    assert chat.press("取消", replies)[0].text == "已取消,什么也没改。"
    assert recorded(app) == 0


# ---- /update never records on a task the user did not clearly name

@pytest.mark.parametrize("text, offered", [
    ("/update 纳图电气项目二期 74%", "纳图电气"),
    ("/update 图电 73%", "纳图电气"),
    ("/update 产业园 76%", "中德电力装备产业园"),
])
def test_update_target_must_be_clear(app, chat_as, text, offered):
    chat = chat_as("王干部")
    replies = chat.replies(text)
    assert "?" in replies[0].text and "什么也还没记录" in replies[0].text
    assert "📌 " + offered in [b.label for r in replies for row in r.buttons for b in row]
    assert recorded(app) == 0 and progress(app) is None and progress(app, "sino_german_power_park") is None


def test_confirmed_candidate_is_proposed_then_recorded(app, chat_as):
    chat = chat_as("王干部")
    proposal = chat.press("纳图电气", chat.replies("/update 图电 73%"))
    assert proposal[0].text.startswith("记为:纳图电气 73%")
    assert chat.press("确定", proposal)[0].text.startswith("✅ 已记录:纳图电气 73%")


@pytest.mark.parametrize("figure", ["12,80%", "65,5%", "1e2%", "0x41%", "NaN", "inf", "60或70", "65.5%"])
def test_unclear_numbers_are_asked_and_change_nothing(app, chat_as, figure):
    answer = chat_as("王干部").say(f"/update 纳图电气 {figure} 说明")
    assert "什么也没记录" in answer
    assert recorded(app) == 0 and progress(app) is None


def test_note_only_update_shows_no_progress_figure(app, chat_as):
    chat = chat_as("王干部")
    chat.say("/update 纳图电气 59% 主体施工")
    answer = chat.say("/update 纳图电气 外墙开始施工")
    assert answer.splitlines()[0] == "✅ 已记录:纳图电气 进展说明(未改进度)"
    assert "59%" not in answer


# ---- comparisons and related figures

def test_absolute_change_from_yoy_is_derived_and_labelled(app, chat_as):
    answer = chat_as("张主任").say("财政收入比去年多多少")
    assert "上年同期约2.97亿元,多了约0.53亿元(推算)" in answer
    assert "推算:上年同期 = 3.5 ÷ (1+18%)" in answer


def test_fastest_growth_among_comparable_indicators(app, chat_as):
    answer = chat_as("张主任").say("经济指标里哪个增长最快")
    assert answer.splitlines()[1].startswith("1. 一般公共预算收入 +18%")


def test_related_figures_of_one_sentence(app, chat_as):
    answer = chat_as("张主任").say("城市问题办结情况")
    assert "1.5万起" in answer and "95%" in answer


def test_follow_up_refers_to_the_last_topic(app, chat_as, clock):
    chat = chat_as("张主任")
    chat.say("财政收入多少")
    assert "推算" in chat.say("那去年呢")
    clock.advance(timedelta(minutes=30))
    assert "推算" not in chat.say("那去年呢")  # the topic is forgotten after a few minutes


# ---- dialogues that forgive

def test_a_button_label_typed_acts_as_the_button(app, chat_as):
    chat = chat_as("张主任")
    chat.say("/tasks")
    assert chat.say("只看红灯").startswith("红灯事项")


def test_a_command_inside_a_dialogue_asks_before_dropping_the_draft(app, chat_as):
    chat = chat_as("王干部")
    chat.press("纳图电气", chat.replies("报进展"))
    chat.say("70%")
    question = chat.replies("/tasks")
    assert question[0].text.startswith("你还有一份没完成的进展填报")
    assert chat.press("继续填写", question)[0].text.startswith("好,继续进展填报")
    summary = chat.say("钢结构吊装完成")
    assert "进度:未报 → 70%" in summary
    question = chat.replies("/tasks")
    assert chat.press("放弃并执行", question)[0].text.startswith("全部事项")
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Conversation).where(
            Conversation.flow == "guided")) == 0


def test_a_snooze_phrase_inside_the_extension_dialogue_is_not_a_date(app, chat_as):
    chat = chat_as("王干部")
    with app.sessions.begin() as session:
        now = app.clock.now()
        push(session, now, "r1", "deadline", chat.person.id, "🔔 纳图电气 请报进展")
        session.execute(update(OutboxMessage).values(status="sent", sent_at=now))
    assert "请发新的日期" in chat.say("/extend 纳图电气")
    answer = chat.say("明早提醒我")
    assert answer.startswith("🔔 好的,07-16 09:00 再提醒你。")
    assert "2026年3月31日" in chat.say("明年3月底")  # the dialogue is still there and takes the date


def test_dates_in_words_in_an_extension_request(app, chat_as):
    answer = chat_as("王干部").say("纳图电气申请延期到明年3月底")
    assert "新日期:2026-03-31" in answer and "请写一句延期理由" in answer
