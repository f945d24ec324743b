"""Ledger cells: a worksheet as plain rows, finding its header row, and reading the values
offices type into cells (65% / 0.65 / "６５％", 2025-12-31 / 2025年12月31日, 增长8.4%, 2025年1-7月).

Pure functions over Python values: no database, no openpyxl. Used by the ledger import.
"""
from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Optional

from bot.services.indicators import PREFIX_QUALIFIERS
from bot.services.text import fmt_number, nfkc


def norm_header(text: Any) -> str:
    return re.sub(r"[\s()（）%％/、]", "", nfkc(str(text or ""))).lower()


class Sheet:
    """One worksheet as plain rows: cached values, formula flags and number formats."""

    def __init__(self, title: str, values: list[list[Any]], formulas: list[list[bool]],
                 formats: list[list[str]], merged: Sequence[tuple[int, int]] = ()) -> None:
        self.title = title
        self.values = values
        self.formulas = formulas
        self.formats = formats
        #: (first row, last row), 0-based, of each merged range
        self.merged = list(merged)


def find_header(sheet: Sheet, aliases: dict[str, tuple[str, ...]], required: str,
                 scan: int = 10) -> Optional[tuple[int, dict[str, int]]]:
    """The header row (0-based) and column of each field, looking through the first rows."""
    wanted = {field_: {norm_header(a) for a in names} for field_, names in aliases.items()}
    for index, row in enumerate(sheet.values[:scan]):
        columns: dict[str, int] = {}
        for col, value in enumerate(row):
            name = norm_header(value)
            if not name:
                continue
            for field_, names in wanted.items():
                if name in names and field_ not in columns:
                    columns[field_] = col
                    break
        if required in columns and len(columns) >= 2:
            # a header over several rows (merged cells downwards): data starts below all of it
            end = max([last for first, last in sheet.merged if first == index] + [index])
            for sub in sheet.values[index + 1:end + 1]:
                for col, value in enumerate(sub):
                    name = norm_header(value)
                    for field_, names in wanted.items():
                        if name and name in names and field_ not in columns and col not in columns.values():
                            columns[field_] = col
            return end, columns
    return None


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return nfkc(str(value)).strip()


NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?$")


def parse_percent_cell(value: Any, number_format: str = "") -> float:
    """65% / 0.65 in a percent cell / "65" / "６５％" / 0.65 -> 65.0; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, (int, float)):
        number = float(value)
        if "%" in (number_format or "") or 0 < number < 1:
            number *= 100
        return round(number, 4)
    text = nfkc(str(value)).strip().replace(" ", "").replace("百分之", "")
    percent = text.endswith("%")
    text = text.rstrip("%")
    if not NUMBER.match(text):
        raise ValueError
    number = float(text)
    if not percent and 0 < number < 1:
        number *= 100
    return number


def parse_number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, (int, float)):
        return float(value)
    text = nfkc(str(value)).strip().replace(",", "").replace(" ", "")
    if not NUMBER.match(text):
        raise ValueError
    return float(text)


def parse_yoy(value: Any, number_format: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(float(value) * 100, 4) if "%" in number_format else float(value)
    text = nfkc(str(value)).strip().replace(" ", "").rstrip("%")
    if text.startswith("增长"):
        text = text[2:]
    elif text.startswith("下降"):
        text = "-" + text[2:]
    if not NUMBER.match(text):
        raise ValueError
    return float(text)


def parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = nfkc(str(value)).strip()
    match = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", text)
    if not match:
        raise ValueError
    return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))


MONTHLY = re.compile(r"^(\d{4})年(?:1-|1—|1~)?(\d{1,2})月")


def period_end_of(label: str) -> Optional[date]:
    """'2025年1-7月' / '2025年7月' -> 2025-07-31 (a statistics office's monthly table)."""
    match = MONTHLY.match(nfkc(label).replace(" ", ""))
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        return None
    return date(year, month, calendar.monthrange(year, month)[1])


def row_is_empty(row: list[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in row)


def value_cell(value: Optional[float], qualifier: Optional[str]):
    """An indicator value as the report said it: a number, or text with its qualifier
    (超1, 预计1.8, 2以上) so 超/近/预计/以上 are not lost; ``parse_value_cell`` reads it back."""
    if value is None or not qualifier:
        return value
    number = fmt_number(value)
    return qualifier + number if qualifier in PREFIX_QUALIFIERS else number + qualifier


_SUFFIX_QUALIFIERS = ("以上", "余", "多")


def parse_value_cell(raw: Any) -> tuple[float, Optional[str]]:
    """12.5 / "超1" / "预计1.8" / "2以上" → (number, qualifier); raises ValueError."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw), None
    text = nfkc(str(raw)).strip().replace(",", "").replace(" ", "")
    for prefix in sorted(PREFIX_QUALIFIERS, key=len, reverse=True):
        if text.startswith(prefix):
            return parse_number(text[len(prefix):]), prefix
    for suffix in _SUFFIX_QUALIFIERS:
        if text.endswith(suffix):
            return parse_number(text[: -len(suffix)]), suffix
    return parse_number(text), None
