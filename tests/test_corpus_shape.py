"""Shape of the message corpus (tests/corpus/messages.yaml): known intents, balanced roles,
expected names that exist in the dataset, and progress figures that bot.numerals reads the
same way. Running the corpus through the handlers is a separate test."""
from __future__ import annotations

import collections
import re
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

from bot.dateparse import DateParseError, parse_date
from bot.numerals import parse_progress
from tests.corpus import LIST_FILTERS, ROLES, entries, intents, load

ROOT = Path(__file__).resolve().parent.parent
DATA = yaml.safe_load((ROOT / "data" / "diaozhuang-2025.yaml").read_text(encoding="utf-8"))
PEOPLE = yaml.safe_load((ROOT / "data" / "demo-people.yaml").read_text(encoding="utf-8"))

TASKS = {t["name"]: t for t in DATA["tasks"]}
INDICATORS = {i["name"]: i for i in DATA["indicators"]}
TEAMS = {t["name"] for t in DATA["teams"]}
PERSON_ROLE = {p["name"]: p["role"] for p in PEOPLE["people"]}

KNOWN_INTENTS = {
    "indicator_query", "indicator_compare", "task_card", "update", "list", "page", "my_day",
    "team_summary", "ranking", "urge", "instruct", "review", "assign", "extend",
    "remind_settings", "snooze", "help", "ambiguous", "followup",
}
EXPECT_KEYS = {
    "indicator", "figure", "label", "also", "task", "progress", "note", "problem", "next_step",
    "filter", "count", "page", "team", "what", "person", "text", "decision", "reason", "name",
    "owner", "deadline", "date", "setting", "until", "ask", "candidates", "resolves",
    "refused",  # the right answer for the demo data is this refusal (and nothing changes)
}

ENTRIES = entries()


def ids(entry):
    return f"{entry['role']}:{entry['text']}"


def test_header():
    data = load()
    assert data["version"] == 1
    datetime.fromisoformat(data["now"])
    assert set(intents()) == KNOWN_INTENTS


def test_size_and_roles_balanced():
    assert len(ENTRIES) >= 330
    counts = collections.Counter(e["role"] for e in ENTRIES)
    assert set(counts) == set(ROLES)
    assert min(counts.values()) >= 100
    assert max(counts.values()) <= 1.25 * min(counts.values())


def test_no_duplicate_messages():
    seen = collections.Counter((e["text"], tuple(e.get("context", ()))) for e in ENTRIES)
    assert [k for k, n in seen.items() if n > 1] == []


def test_every_intent_has_several_phrasings_and_some_are_asked_back():
    counts = collections.Counter(e["intent"] for e in ENTRIES)
    assert set(counts) == KNOWN_INTENTS
    assert min(counts.values()) >= 4
    assert counts["ambiguous"] >= 0.08 * len(ENTRIES)
    assert counts["followup"] >= 15


@pytest.mark.parametrize("entry", ENTRIES, ids=ids)
def test_entry_shape(entry):
    assert set(entry) <= {"role", "user", "text", "intent", "expect", "context", "setup"}
    for step in entry.get("setup", ()):  # messages sent first, by the same or another demo person
        assert isinstance(step, dict) and set(step) <= {"user", "text"} and step["text"].strip()
        assert PERSON_ROLE[step.get("user", entry["user"])]
    assert entry["role"] in ROLES
    assert PERSON_ROLE[entry["user"]] == entry["role"]
    assert isinstance(entry["text"], str) and entry["text"].strip()
    assert entry["intent"] in KNOWN_INTENTS
    expect = entry["expect"]
    assert isinstance(expect, dict)
    assert set(expect) <= EXPECT_KEYS, set(expect) - EXPECT_KEYS
    if entry["intent"] == "followup":
        assert entry["context"] and all(isinstance(c, str) and c for c in entry["context"])
        assert expect["resolves"] in KNOWN_INTENTS - {"followup", "ambiguous"}
    else:
        assert "context" not in entry and "resolves" not in expect
    _check_expect(entry["intent"] if entry["intent"] != "followup" else expect["resolves"], expect)


def _check_expect(intent, expect):
    if "task" in expect:
        assert expect["task"] in TASKS, expect["task"]
    for name in expect.get("candidates", ()):
        assert name in TASKS, name
    for item in (expect, expect.get("also") or {}):
        if "indicator" in item:
            indicator = INDICATORS[item["indicator"]]
            figure = item.get("figure")
            if figure is not None:
                assert _figure_matches(indicator, figure), (indicator["name"], figure)
    if "team" in expect:
        assert expect["team"] in TEAMS
    for key in ("person", "owner"):
        if key in expect:
            assert expect[key] in PERSON_ROLE
    if "progress" in expect:
        assert isinstance(expect["progress"], int) and 0 <= expect["progress"] <= 100
    for key in ("deadline", "date"):
        if key in expect:
            date.fromisoformat(expect[key])
    if "until" in expect:
        assert datetime.fromisoformat(expect["until"]).tzinfo is not None
    if "filter" in expect and intent == "list":
        f = expect["filter"]
        assert f in LIST_FILTERS or re.fullmatch(r"due_days:\d+", f) or (
            f.startswith("team:") and f[5:] in TEAMS), f
    if "page" in expect:
        assert expect["page"] in ("next", "prev") or (isinstance(expect["page"], int) and expect["page"] >= 1)
    if "decision" in expect:
        assert expect["decision"] in ("通过", "退回")
        if expect["decision"] == "退回" and intent == "review":
            assert expect["reason"]
    if "ask" in expect:
        assert expect["ask"] in ("task", "number", "intent", "date")
    required = {
        "indicator_query": {"indicator", "figure"}, "indicator_compare": {"indicator"},
        "task_card": {"task"}, "list": {"filter"}, "page": {"page"}, "team_summary": {"team"},
        "ranking": {"what"}, "review": {"decision"}, "assign": {"name"}, "extend": {"date"},
        "instruct": {"text"}, "remind_settings": {"setting"}, "snooze": {"until"}, "ambiguous": {"ask"},
    }.get(intent, set())
    assert required <= set(expect), (intent, required - set(expect))
    if intent == "update":
        assert {"progress", "note", "problem", "next_step"} & set(expect)


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _figure_matches(indicator, figure: str) -> bool:
    shown = set()
    if indicator.get("value") is not None:
        shown.add(f"{_fmt(indicator['value'])}{indicator['unit']}")
    if indicator.get("yoy_pct") is not None:
        shown.add(f"{_fmt(abs(indicator['yoy_pct']))}%")
    return figure in shown


def _names_in(task_name: str) -> list[str]:
    task = TASKS[task_name]
    return [task["name"], *task.get("aliases", [])]


PROGRESS_ENTRIES = [
    e for e in ENTRIES
    if "progress" in e["expect"] and (e["intent"] == "update" or e["expect"].get("resolves") == "update")
]


@pytest.mark.parametrize("entry", PROGRESS_ENTRIES, ids=ids)
def test_progress_figures_read_the_same_by_numerals(entry):
    expect = entry["expect"]
    mask = sorted(_names_in(expect["task"]), key=len, reverse=True) if "task" in expect else []
    result = parse_progress(entry["text"], mask=mask)
    assert result.ok, result
    assert result.value == expect["progress"]


NUMBER_ASKS = [e for e in ENTRIES if e["intent"] == "ambiguous" and e["expect"]["ask"] == "number"]


@pytest.mark.parametrize("entry", NUMBER_ASKS, ids=ids)
def test_unclear_numbers_are_refused_by_numerals(entry):
    assert not parse_progress(entry["text"]).ok


DATED = [e for e in ENTRIES if "date" in e["expect"] or "deadline" in e["expect"]]


@pytest.mark.parametrize("entry", DATED, ids=ids)
def test_dates_in_the_corpus_are_read_by_dateparse(entry):
    expected = date.fromisoformat(entry["expect"].get("date") or entry["expect"]["deadline"])
    now = datetime.fromisoformat(load()["now"])
    text = re.sub(r"\s+", " ", entry["text"])
    found = set()
    for piece in re.split(r"[ ,，:：]", text):
        for i in range(len(piece)):
            for j in range(i + 2, len(piece) + 1):
                try:
                    found.add(parse_date(piece[i:j], now))
                except DateParseError:
                    pass
    assert expected in found
