"""Finding indicators and tasks from what leaders type: names, abbreviations, pinyin, typos."""
import pytest


@pytest.mark.parametrize("question, expected_name, expected_value", [
    ("财政收入多少", "一般公共预算收入", "3.5亿元"),
    ("一般公共预算收入", "一般公共预算收入", "3.5亿元"),
    ("社零", "限上社会消费品零售总额", "7.2亿元"),
    ("固投", "市、区重点项目固定资产投资", "7亿元"),
    ("外贸", "进出口总额", "10.2亿元"),
    ("规上产值?", "规上工业总产值", "135.7亿元"),
    ("sl", "限上社会消费品零售总额", "7.2亿元"),               # pinyin initials
    ("ybggyssr", "一般公共预算收入", "3.5亿元"),
    ("财政收人", "一般公共预算收入", "3.5亿元"),               # typo
    ("ＨＷ人才", "HW人才计划申报", "19人"),                    # full-width letters
    ("请问财政收入情况如何?😊", "一般公共预算收入", "3.5亿元"),  # fillers and emoji
])
def test_indicator_questions_resolve(chat_as, question, expected_name, expected_value):
    answer = chat_as("张主任").say(question)
    assert expected_name in answer.splitlines()[0]
    assert expected_value in answer


@pytest.mark.parametrize("question", ["纳图电气进展", "纳图电器", "纳图", "natudianqi", "/task 纳图电气"])
def test_task_questions_open_the_card(chat_as, question):
    answer = chat_as("张主任").say(question)
    first = answer.splitlines()[0]
    assert "纳图电气" in first and "重点项目" in first
    assert "责任人:王干部" in answer


def test_ambiguous_question_offers_choices(chat_as):
    replies = chat_as("张主任").replies("纠纷")
    labels = [b.label for r in replies for row in r.buttons for b in row]
    assert "可能是" in replies[0].text
    assert any("调处矛盾纠纷" in label for label in labels)
    assert any("成功率" in label for label in labels)


def test_choice_button_answers(chat_as):
    chat = chat_as("张主任")
    replies = chat.replies("纠纷")
    answer = chat.press("矛盾纠纷调处成功率", replies)
    assert "99.2%" in answer[0].text


def test_numbered_choice_on_a_channel_without_buttons(chat_as):
    chat = chat_as("张主任")
    listing = chat.say("纠纷", buttons_supported=False)
    lines = [line for line in listing.splitlines() if "成功率" in line]
    number = lines[0].split(".")[0]
    assert "99.2%" in chat.say(number, buttons_supported=False)


def test_unknown_question_gets_suggestions_not_silence(chat_as):
    answer = chat_as("张主任").say("月球基地建设")
    assert answer.startswith("没找到“月球基地建设”")
    assert "/kpi" in answer


def test_source_sentence_with_every_answer_and_in_full_on_request(app, chat_as):
    from sqlalchemy import select

    from bot.models import Indicator

    chat = chat_as("张主任")
    replies = chat.replies("财政收入")
    assert "原文:预计半年度一般公共预算收入完成3.5亿元,同比增长18%" in replies[0].text
    assert replies[0].buttons == []  # the whole sentence is already there
    with app.sessions.begin() as session:
        indicator = session.scalar(select(Indicator).where(Indicator.key == "budget_revenue"))
        indicator.target, indicator.target_source = 6.0, "全年一般公共预算收入目标6亿元(测试用)"
    replies = chat.replies("财政收入")
    full = chat.press("看原文", replies)[0].text
    assert "目标出处:全年一般公共预算收入目标6亿元(测试用)" in full
    assert "目标出处" in chat.say("财政收入 出处")


@pytest.mark.parametrize("question, expected_first_line", [
    ("消防隐患整改", "⚪ 高层住宅小区突出消防隐患问题整改【社会治理·安全生产】"),
    ("厂中厂", "⚪ “厂中厂”综合治理【社会治理·安全生产】"),
    ("13条整改措施", "⚪ 13条整改措施落实【党的建设·整改】"),
    ("城市家具", "⚪ 城市家具提优【城市建设·环境整治】"),
    ("闲置地块", "⚪ 闲置地块“封闭管理”向“共享惠民”转型【城市建设·环境整治】"),
    ("一村社区一项目一品牌一特色", "⚪ 公益创投“一村社区一项目一品牌一特色”【社会治理·五社联动】"),
    ("7个区重点项目", "⚪ 7个区重点项目【重点项目·区重点项目】"),
    ("工业增加值", "⚪ 工业增加值增速较慢【问题清单·经济发展】"),
])
def test_items_added_from_the_report_open_their_cards(chat_as, question, expected_first_line):
    assert chat_as("张主任").say(question).splitlines()[0] == expected_first_line


def test_problem_list_is_a_task_category(chat_as):
    answer = chat_as("张主任").say("/tasks 问题清单")
    assert answer.splitlines()[0].startswith("问题清单") and "共4项" in answer.splitlines()[0]
    for name in ("工业增加值增速较慢", "项目投资稍显不足", "城市智慧治理平台融合", "消费潜力释放不足"):
        assert name in answer
