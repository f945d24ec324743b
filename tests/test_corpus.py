"""The message corpus (tests/corpus/messages.yaml, 346 messages by role) through the handlers,
on SQLite and PostgreSQL: each answer is judged exactly (tests/corpus_check.py) — the intent,
the key figure, the task, what was recorded. Passes when every role is at least 95%.

Known failures (the answer is wrong; listed in the README section 怎么说都行):
- "园区" (leader): opens 中匈国际科创园区; 中德电力装备产业园 is not named with 园区.
- "中德园区 进度45 下一步 土地挂牌" (cadre): asks between two 园 tasks instead of proposing 中德.
"""

from tests.corpus_check import rates, run_all

GOAL = 0.95
KNOWN_FAILURES = {"园区", "中德园区 进度45 下一步 土地挂牌"}


def test_corpus_success_rate_per_role(app, capsys):
    outcomes = run_all(app)
    by_role = rates(outcomes)
    summary = " · ".join(f"{role} {ok}/{total} = {ok * 100 / total:.1f}%" for role, (ok, total) in by_role.items())
    with capsys.disabled():
        print(f"\ncorpus: {summary}")
    failed = {o.entry["text"] for o in outcomes if not o.ok}
    assert failed <= KNOWN_FAILURES, [(o.entry["text"], o.why, o.answer[:80]) for o in outcomes
                                      if not o.ok and o.entry["text"] not in KNOWN_FAILURES]
    for role, (ok, total) in by_role.items():
        assert ok / total >= GOAL, (role, ok, total)
