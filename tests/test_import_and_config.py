"""Dataset import (idempotent, recorded) and broken files (file, line, key; non-zero exit)."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from bot.composition import load_data_files
from bot.config import PROJECT_ROOT, load_config
from bot.models import AuditEntry, Indicator, IndicatorValue, Task
from bot.services.dataset import read_dataset
from bot.yamlfile import FileError
from tests.conftest import DATASET, DEMO_PEOPLE


def table_counts(app):
    with app.sessions() as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Indicator, IndicatorValue, Task, AuditEntry)}


def test_dataset_counts_after_import(app):
    counts = table_counts(app)
    raw = yaml.safe_load(DATASET.read_text(encoding="utf-8"))
    assert counts["indicators"] == len(raw["indicators"]) >= 40
    assert counts["tasks"] == len(raw["tasks"])


def test_importing_twice_changes_nothing(app):
    before = table_counts(app)
    summary = load_data_files(app, [DATASET, DEMO_PEOPLE])
    assert "没有变化" in summary
    assert table_counts(app) == before


def test_changed_value_updates_in_place_and_is_recorded(app, tmp_path):
    raw = yaml.safe_load(DATASET.read_text(encoding="utf-8"))
    for item in raw["indicators"]:
        if item["key"] == "budget_revenue":
            item["value"] = 3.6
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    before = table_counts(app)
    summary = load_data_files(app, [changed])
    assert "更新指标数值1" in summary
    after = table_counts(app)
    assert after["indicator_values"] == before["indicator_values"]
    assert after["audit_log"] == before["audit_log"] + 1
    with app.sessions() as session:
        entry = session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()))
        assert entry.entity_key == "budget_revenue@2025-06-30"
        assert entry.before == {"value": 3.5} and entry.after == {"value": 3.6}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_broken_dataset_names_file_line_and_key(tmp_path):
    path = write(tmp_path, "bad.yaml", "version: 1\nindicators:\n  - key: x\n    name: 测试\n"
                 "    category: 经济运行\n    period: 2025年\n    period_start: 2025-01-01\n"
                 "    period_end: 2025-06-30\n    value: 很多\n")
    with pytest.raises(FileError) as error:
        read_dataset(path)
    assert f"{path}:9: indicators.0.value" in str(error.value)


def test_dataset_syntax_error_names_line(tmp_path):
    path = write(tmp_path, "bad.yaml", "version: 1\ntasks:\n  - key: a\n    name: [unclosed\n")
    with pytest.raises(FileError) as error:
        read_dataset(path)
    assert str(error.value).startswith(f"{path}:") and "YAML" in str(error.value)


def test_broken_config_names_file_line_and_key(tmp_path):
    path = write(tmp_path, "config.yaml", "database:\n  url: sqlite:///x.db\nlights:\n"
                 "  behind_yellow_pp: 10\n  behind_red_pp: lots\n")
    with pytest.raises(FileError) as error:
        load_config(path, environ={})
    assert f"{path}:5: lights.behind_red_pp" in str(error.value)


def test_unknown_config_key_is_refused(tmp_path):
    path = write(tmp_path, "config.yaml", "server:\n  host: 0.0.0.0\n  prot: 80\n")
    with pytest.raises(FileError) as error:
        load_config(path, environ={})
    assert f"{path}:3: server.prot" in str(error.value)


def test_environment_overrides_database_url(tmp_path):
    config = load_config(PROJECT_ROOT / "config.yaml", environ={"DATABASE_URL": "postgresql+psycopg://u@h/db"})
    assert config.database_url == "postgresql+psycopg://u@h/db"


def run_cli(*args, stdin: str = "", cwd=PROJECT_ROOT):
    return subprocess.run([sys.executable, "run.py", *args], input=stdin, capture_output=True,
                          text=True, cwd=cwd, timeout=120)


@pytest.mark.slow
def test_cli_exits_non_zero_on_broken_config(tmp_path):
    path = write(tmp_path, "config.yaml", "lights:\n  stale_days: -3\n")
    result = run_cli("--config", str(path), "console", "--demo", stdin="财政收入\n")
    assert result.returncode == 2
    assert f"{path}:2: lights.stale_days" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_cli_import_is_idempotent(tmp_path):
    config = write(tmp_path, "config.yaml", f"database:\n  url: sqlite:///{tmp_path / 'db.sqlite3'}\n")
    first = run_cli("--config", str(config), "import", str(DATASET), str(DEMO_PEOPLE))
    assert first.returncode == 0, first.stderr
    assert "新增指标" in first.stdout
    second = run_cli("--config", str(config), "import", str(DATASET), str(DEMO_PEOPLE))
    assert second.stdout.count("导入完成:没有变化。") == 2


@pytest.mark.slow
def test_cli_import_of_a_broken_file_fails_and_writes_nothing(tmp_path):
    config = write(tmp_path, "config.yaml", f"database:\n  url: sqlite:///{tmp_path / 'db.sqlite3'}\n")
    bad = write(tmp_path, "bad.yaml", "tasks:\n  - key: Bad Key\n    name: x\n    category: y\n")
    result = run_cli("--config", str(config), "import", str(bad))
    assert result.returncode == 2
    assert f"{bad}:2: tasks.0.key" in result.stderr
