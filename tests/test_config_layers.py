"""Configuration layers: config.yaml < config.local.yaml < --config < the environment, secrets
from files, errors that name where the bad value came from, and the command line's options."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bot import __version__
from bot.config import PROJECT_ROOT, config_files, load_config
from bot.yamlfile import FileError

BASE = PROJECT_ROOT / "config.yaml"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_files_are_layered_key_by_key(tmp_path):
    local = write(tmp_path / "config.local.yaml", "office: 测试街道\nserver:\n  port: 9001\n"
                  "reminders:\n  remind_time: '10:00'\n")
    extra = write(tmp_path / "extra.yaml", "server:\n  host: 0.0.0.0\n")
    config = load_config(files=[BASE, local, extra], environ={})
    assert (config.office, config.server.host, config.server.port) == ("测试街道", "0.0.0.0", 9001)
    assert str(config.reminders.remind_time) == "10:00:00"
    assert str(config.reminders.digest_time) == "08:30:00"  # untouched keys keep config.yaml's value
    assert config.database.url == "sqlite:///var/duban.sqlite3"


def test_config_option_layers_over_config_yaml_not_instead(tmp_path):
    extra = write(tmp_path / "mine.yaml", "lists:\n  page_size: 5\n")
    assert config_files(extra)[0] == BASE and config_files(extra)[-1] == extra
    config = load_config(extra, environ={})
    assert config.lists.page_size == 5
    assert config.data.dataset == "data/diaozhuang-2025.yaml"


def test_every_setting_from_the_environment_and_secrets_from_files(tmp_path):
    token = write(tmp_path / "token", "123456:ABC-secret\n")
    config = load_config(files=[BASE], environ={
        "DUBAN__SERVER__PORT": "9100",
        "DUBAN__REMINDERS__ENABLED": "false",
        "DUBAN__REMINDERS__DEADLINE_OFFSETS_WORKDAYS": "[5, 2]",
        "DUBAN__REMINDERS__QUIET_HOURS": "null",
        "DUBAN__WECOM__TEAM_ROBOTS__XM1": "robot-key",
        "DUBAN__TELEGRAM__TOKEN_FILE": str(token),
        "DUBAN__TELEGRAM__WEBHOOK_SECRET": "s3cret_x",
        "DUBAN__LOGGING__FORMAT": "json",
        "DUBAN__BACKUP__KEEP_DAYS": "30",
        "UNRELATED": "x",
    })
    assert config.server.port == 9100 and config.reminders.enabled is False
    assert config.reminders.deadline_offsets_workdays == [5, 2] and config.reminders.quiet_hours is None
    assert config.wecom.team_robots == {"xm1": "robot-key"}
    assert config.telegram.token == "123456:ABC-secret"  # the file's content, without the newline
    assert config.telegram.webhook_secret == "s3cret_x"
    assert config.logging.format == "json" and config.backup.keep_days == 30


def test_old_environment_names_still_work_and_new_ones_win(tmp_path):
    config = load_config(files=[BASE], environ={"DATABASE_URL": "postgresql+psycopg://old@h/db",
                                                 "TELEGRAM_BOT_TOKEN": "1:old"})
    assert config.database_url == "postgresql+psycopg://old@h/db" and config.telegram.token == "1:old"
    secret = write(tmp_path / "wecom", "wecom-secret")
    config = load_config(files=[BASE], environ={"DATABASE_URL": "postgresql+psycopg://old@h/db",
                                                 "DUBAN__DATABASE__URL": "postgresql+psycopg://new@h/db",
                                                 "WECOM_SECRET_FILE": str(secret)})
    assert config.database_url == "postgresql+psycopg://new@h/db" and config.wecom.secret == "wecom-secret"


def test_bad_values_name_their_source(tmp_path):
    with pytest.raises(FileError) as error:
        load_config(files=[BASE], environ={"DUBAN__SERVER__PORT": "eighty"})
    assert str(error.value).startswith("环境变量 DUBAN__SERVER__PORT: server.port:")
    with pytest.raises(FileError) as error:
        load_config(files=[BASE], environ={"DUBAN__SERVER__PROT": "80"})
    assert str(error.value).startswith("环境变量 DUBAN__SERVER__PROT: server.prot:")
    with pytest.raises(FileError) as error:
        load_config(files=[BASE], environ={"DUBAN__TELEGRAM__TOKEN_FILE": str(tmp_path / "missing")})
    assert "环境变量 DUBAN__TELEGRAM__TOKEN_FILE: 读不到文件" in str(error.value)
    local = write(tmp_path / "config.local.yaml", "lights:\n  stale_days: 0\n")
    with pytest.raises(FileError) as error:
        load_config(files=[BASE, local], environ={})
    assert str(error.value).startswith(f"{local}:2: lights.stale_days")


def test_timezone_is_fixed_to_the_office(tmp_path):
    local = write(tmp_path / "tz.yaml", "timezone: Europe/Berlin\n")
    with pytest.raises(FileError) as error:
        load_config(files=[BASE, local], environ={})
    assert f"{local}:1: timezone" in str(error.value)
    assert load_config(files=[BASE], environ={}).timezone == "Asia/Shanghai"


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "run.py", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120, env=env)


def test_cli_version_options_after_the_subcommand_and_exit_codes(tmp_path):
    assert run_cli("--version").stdout.strip() == f"duban {__version__}"
    mine = write(tmp_path / "mine.yaml", f"database:\n  url: sqlite:///{tmp_path / 'x.sqlite3'}\n"
                                         f"data:\n  out_dir: {tmp_path / 'out'}\n")
    before = run_cli("--config", str(mine), "migrate")
    after = run_cli("migrate", "--config", str(mine))
    assert before.returncode == 0 and str(tmp_path / "x.sqlite3") in before.stdout
    assert after.returncode == 0 and "up to date" in after.stdout and str(tmp_path / "x.sqlite3") in after.stdout
    usage = run_cli("migrate", "--no-such-option")
    assert usage.returncode == 2 and "unrecognized arguments: --no-such-option" in usage.stderr
    missing = run_cli("restore", str(tmp_path / "nothing.tar.gz"), "--config", str(mine))
    assert missing.returncode == 1 and "nothing.tar.gz: 文件不存在" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_json_log_lines_when_configured(tmp_path):
    import json
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN__")}
    env.update({"DUBAN__DATABASE__URL": f"sqlite:///{tmp_path / 'j.sqlite3'}",
                "DUBAN__DATA__OUT_DIR": str(tmp_path / "out"), "DUBAN__LOGGING__FORMAT": "json"})
    result = run_cli("migrate", env=env)
    assert result.returncode == 0
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines and lines[0]["level"] == "WARNING" and lines[0]["logger"] == "bot.db"
    assert lines[0]["message"].startswith("migrating database from None to ")
    env["DUBAN__LOGGING__FORMAT"] = "text"
    text = run_cli("migrate", "-v", env=env)
    assert text.returncode == 0 and "up to date" in text.stdout
