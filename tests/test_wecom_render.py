"""Reply -> WeCom payloads: byte limits, never a cut character, template cards."""
from __future__ import annotations

import pytest

from bot.messages import Button, Reply
from channels.wecom.render import (
    APP_MARKDOWN_LIMIT,
    CARD_MAX_BUTTONS,
    ROBOT_MARKDOWN_LIMIT,
    TEXT_LIMIT,
    reply_payloads,
    robot_payloads,
    split_utf8,
)


def test_short_text_is_one_piece():
    assert split_utf8("财政收入多少\n", 2048) == ["财政收入多少"]
    assert split_utf8("", 2048) == [] and split_utf8("\n\n", 2048) == []


@pytest.mark.parametrize("limit", [TEXT_LIMIT, APP_MARKDOWN_LIMIT, ROBOT_MARKDOWN_LIMIT, 7, 10])
def test_split_on_lines_within_bytes_and_lossless(limit):
    lines = [f"{i:03d} 🔴 纳图电气项目进展顺利,已完成设备安装 ✔" for i in range(300)]
    text = "\n".join(lines)
    pieces = split_utf8(text, limit)
    assert all(len(p.encode("utf-8")) <= limit for p in pieces)
    assert "".join(p.replace("\n", "") for p in pieces) == text.replace("\n", "")
    if limit >= 100:
        # whole lines only: every piece starts at a line start
        assert all(p.split("\n")[0] in lines for p in pieces)
        assert "\n".join(pieces) == text


def test_one_huge_line_is_cut_between_characters():
    text = "中" * 1000 + "😀" * 10  # 3000 + 40 bytes, no newline
    pieces = split_utf8(text, 2048)
    assert [len(p.encode()) for p in pieces] == [2046, 994]  # 682 whole 3-byte characters fit
    assert "".join(pieces) == text
    for p in pieces:
        p.encode("utf-8").decode("utf-8")


def test_plain_reply_is_text_messages():
    payloads = reply_payloads(Reply("甲\n" * 2000))
    assert all(p["msgtype"] == "text" for p in payloads) and len(payloads) > 1
    assert all(len(p["text"]["content"].encode()) <= 2048 for p in payloads)


def test_buttons_become_template_cards_of_at_most_six():
    buttons = [[Button(f"事项{i}", f"t|{i}~abcdef")] for i in range(8)]
    payloads = reply_payloads(Reply("选一个事项", buttons=buttons), "wang", use_cards=True)
    cards = [p["template_card"] for p in payloads]
    assert [len(c["button_list"]) for c in cards] == [CARD_MAX_BUTTONS, 2]
    assert cards[0]["card_type"] == "button_interaction" and cards[0]["main_title"]["title"] == "选一个事项"
    assert [b["key"] for c in cards for b in c["button_list"]] == [f"t|{i}~abcdef" for i in range(8)]
    assert len({c["task_id"] for c in cards}) == 2


def test_long_text_with_buttons_goes_first_as_text():
    reply = Reply("一行很长的说明" * 40, buttons=[[Button("报进展", "u|1~abcdef"), Button("稍后提醒", "s|1~abcdef")]])
    payloads = reply_payloads(reply, "wang")
    assert payloads[0]["msgtype"] == "text" and payloads[-1]["msgtype"] == "template_card"
    assert [b["text"] for b in payloads[-1]["template_card"]["button_list"]] == ["报进展", "稍后提醒"]


def test_without_cards_buttons_are_labels():
    reply = Reply("选:", buttons=[[Button("纳图电气", "t|1~abcdef")]])
    [payload] = reply_payloads(reply, "wang", use_cards=False)
    assert payload == {"msgtype": "text", "text": {"content": "选:\n· 纳图电气"}}


def test_notice_only_reply_is_sent_as_text():
    assert reply_payloads(Reply(notice="已过期")) == [{"msgtype": "text", "text": {"content": "已过期"}}]


def test_robot_markdown_limit_is_4096_bytes():
    text = "\n".join(["**项目一专班** 🔴 纳图电气 逾期3天"] * 400)
    pieces = robot_payloads(Reply(text), markdown=True)
    assert all(p["msgtype"] == "markdown" and len(p["markdown"]["content"].encode()) <= 4096 for p in pieces)
    assert max(len(p["markdown"]["content"].encode()) for p in pieces) > 2048
    assert all(len(p["text"]["content"].encode()) <= 2048 for p in robot_payloads(Reply(text)))


def test_medium_text_with_buttons_rides_in_the_card():
    text = "⏰ 督办提醒:纳图电气 明天(07-16)到时间节点,进度未报。"
    [payload] = reply_payloads(Reply(text, buttons=[[Button("报进展", "u|1~abcdef")]]), "wang")
    card = payload["template_card"]
    assert card["main_title"]["title"] == "督办助手" and card["sub_title_text"] == text
