"""Alembic environment: uses the engine the bot hands over, or builds one from config.yaml."""
from __future__ import annotations

from alembic import context
from bot.models import Base

config = context.config
target_metadata = Base.metadata


def _engine():
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine
    from bot.config import load_config
    from bot.db import make_engine

    return make_engine(load_config().database_url)


def run_migrations_online() -> None:
    engine = _engine()
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


run_migrations_online()
