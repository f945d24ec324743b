"""Text helpers shared by services: normalising what people type, formatting numbers."""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Optional

# Words people add around the thing they ask about: "财政收入多少", "纳图电气进展如何?"
_FILLERS = (
    "是多少", "多少了", "多少", "怎么样了", "怎么样", "如何了", "如何", "咋样", "情况", "进展",
    "进度", "完成了", "完成", "目前", "现在", "今年", "上半年", "查询", "查一下", "查查",
    "查", "看看", "看下", "看一下", "请问", "一下", "的", "呢", "吗", "啊", "了",
)
_PUNCT = re.compile(r"[\s\u3000,，。.!！?？;；:：、\"'“”‘’()（）\[\]【】《》<>~～…·|/\\-]+")
_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\U00002600-\U000027BF\U0001F900-\U0001F9FF\uFE0F\u200d]+"
)


def nfkc(text: str) -> str:
    """Full-width digits and letters to half-width (６５％ -> 65%), compatibility forms folded."""
    return unicodedata.normalize("NFKC", text)


def strip_emoji(text: str) -> str:
    return _EMOJI.sub("", text)


def normalize_query(text: str) -> str:
    """Reduce a question to the name it asks about: '财政收入多少?' -> '财政收入'."""
    text = strip_emoji(nfkc(text)).lower()
    text = _PUNCT.sub("", text)
    changed = True
    while changed and text:
        changed = False
        for filler in _FILLERS:
            if text.endswith(filler) and len(text) > len(filler):
                text = text[: -len(filler)]
                changed = True
            if text.startswith(filler) and len(text) > len(filler):
                text = text[len(filler):]
                changed = True
    return text


def normalize_name(text: str) -> str:
    """Canonical form of a name or alias for exact matching."""
    return _PUNCT.sub("", strip_emoji(nfkc(text)).lower())


_PERCENT = re.compile(r"^(-?\d+(?:\.\d+)?)\s*%?$")


def parse_percent(token: str) -> Optional[float]:
    """'65%' / '６５％' / '65' / '百分之65' -> 65.0; anything else -> None."""
    token = nfkc(token).strip().replace("百分之", "")
    match = _PERCENT.match(token)
    if not match:
        return None
    return float(match.group(1))


def fmt_number(value: Optional[float], digits: int = 2) -> str:
    """3.5 -> '3.5', 124.0 -> '124', 1234567 -> '1234567'; None -> '—'."""
    if value is None:
        return "—"
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_signed(value: float, suffix: str = "%") -> str:
    """18 -> '+18%', -2.5 -> '-2.5%', 0 -> '0%'."""
    text = fmt_number(value)
    if value > 0:
        text = "+" + text
    return text + suffix


def fmt_pp(value: float) -> str:
    """Gap to 序时进度 in percentage points, in words a leader reads at a glance."""
    if abs(value) < 0.05:
        return "与序时进度持平"
    return f"{'快于' if value > 0 else '慢于'}序时进度{fmt_number(abs(value), 1)}个百分点"


def fmt_date(value: Optional[date]) -> str:
    return value.isoformat() if value else "未定"


def clip(text: str, limit: int) -> str:
    """Shorten to ``limit`` characters with an ellipsis, never splitting a character."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
