"""The console as a leader uses it, on both databases."""


def test_leader_asks_budget_revenue(chat_as):
    chat = chat_as("张主任")
    answer = chat.say("财政收入多少")
    assert "一般公共预算收入" in answer
    assert "3.5亿元" in answer and "+18%" in answer
