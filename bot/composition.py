"""The one place that builds engines and clients: config + clock -> a ready ``Duban``.

``run.py`` calls these; tests call them too, with their own config and a FixedClock.
"""
from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Optional

from bot.app import Duban
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.db import make_engine, make_session_factory, migrate
from bot.models import MetaEntry
from bot.services.cache import LISTS_INFO, ListCache
from bot.services.dataset import import_dataset, read_dataset
from bot.services.lights import RULES_VERSION
from bot.services.lookup import NAMES_INFO, NameIndex
from bot.services.tasks import relight_all
from bot.workers import Workers, worker_count

logger = logging.getLogger(__name__)

LIGHTS_KEY = "lights_config"


def build_app(config: Config, clock: Optional[Clock] = None, run_migrations: bool = True) -> Duban:
    engine = make_engine(config.database_url, echo=config.database.echo)
    if run_migrations:
        migrate(engine)
    out_dir = config.resolve(config.data.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Once the name index is built, nearly everything alive (modules, SQLAlchemy's caches, the
    # index) lives as long as the process; yet every full garbage collection walks it all: a
    # ~90 ms pause every few hundred messages on 10,000 tasks. Freezing after each rebuild
    # moves what is alive then out of the collector's reach; the index forms no reference
    # cycles, so a replaced one is still freed by reference counts.
    names = NameIndex(on_rebuilt=gc.freeze)
    lists = ListCache()
    sessions = make_session_factory(engine, info={NAMES_INFO: names, LISTS_INFO: lists})
    workers = Workers(worker_count(config.database_url, config.database.workers))
    app = Duban(config=config, clock=clock or SystemClock(), engine=engine, sessions=sessions,
                out_dir=out_dir, names=names, lists=lists, workers=workers)
    if run_migrations:
        apply_light_rules(app)
        app.load_secret()
    return app


def apply_light_rules(app: Duban) -> None:
    """When the light thresholds in config.yaml (or the rules) changed, recompute every task's light days."""
    fingerprint = f"v{RULES_VERSION}:" + app.config.lights.model_dump_json()
    with app.sessions.begin() as session:
        entry = session.get(MetaEntry, LIGHTS_KEY)
        if entry is not None and entry.value == fingerprint:
            return
        count = relight_all(session, app.config.lights)
        if entry is None:
            session.add(MetaEntry(key=LIGHTS_KEY, value=fingerprint))
        else:
            entry.value = fingerprint
        if count:
            logger.info("light thresholds changed: %d tasks relit", count)


def load_data_files(app: Duban, paths: list[Path]) -> str:
    """Import dataset files in one transaction; returns the summaries."""
    datasets = [(path, read_dataset(path)) for path in paths]
    summaries = []
    with app.sessions.begin() as session:
        for path, dataset in datasets:
            report = import_dataset(session, app.clock.now(), dataset, app.config.lights, origin=str(path))
            summaries.append(f"{path.name}: {report.summary()}")
            summaries.extend(f"  {line}" for line in report.changes[:50])
    return "\n".join(summaries)
