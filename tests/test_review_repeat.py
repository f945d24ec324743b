"""A second 100% after a 退回 reaches the reviewer again, also when it comes within the same
second as the first (the clock does not move between the reports here)."""
from sqlalchemy import select

from bot.models import OutboxMessage, Person


def review_pushes(app) -> list[tuple[str, str]]:
    with app.sessions() as session:
        rows = session.execute(select(OutboxMessage, Person).join(Person, Person.id == OutboxMessage.person_id)
                               .where(OutboxMessage.kind == "review").order_by(OutboxMessage.id)).all()
        return [(person.name, row.payload["text"].split("\n")[0]) for row, person in rows]


def test_every_submission_and_decision_is_pushed(app, chat_as):
    cadre, lead = chat_as("王干部"), chat_as("李组长")
    cadre.say("/update 纳图电气 100% 竣工投产")
    lead.say("/return 纳图电气 验收材料不全")
    cadre.say("/update 纳图电气 100% 材料已补齐")
    lead.say("/return 纳图电气 还缺消防验收")
    cadre.say("/update 纳图电气 100% 消防验收已过")
    assert lead.say("通过 纳图电气").startswith("✅ 已审核通过")
    assert review_pushes(app) == [
        ("李组长", "🧾 待审核:纳图电气"), ("王干部", "↩️ 纳图电气 被退回(李组长)"),
        ("李组长", "🧾 待审核:纳图电气"), ("王干部", "↩️ 纳图电气 被退回(李组长)"),
        ("李组长", "🧾 待审核:纳图电气"), ("王干部", "✅ 纳图电气 已通过审核(李组长),已销号。")]
