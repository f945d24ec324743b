"""The console channel as a newcomer meets it: the README's demo command, as a transcript."""
import subprocess
import sys

from bot.config import PROJECT_ROOT


def console(*args, stdin):
    result = subprocess.run([sys.executable, "run.py", "console", *args], input=stdin,
                            capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_demo_transcript_as_leader():
    out = console("--demo", stdin="财政收入多少\n纳图电气进展\n/update 纳图电气 65% 主体厂房封顶\n")
    blocks = out.split("\n\n")
    assert blocks[0].startswith("> 财政收入多少\n📊 一般公共预算收入\n预计3.5亿元(2025年1-6月),同比+18%")
    assert blocks[1].startswith("> 纳图电气进展\n⚪ 纳图电气")
    assert blocks[2].startswith("> /update 纳图电气 65% 主体厂房封顶\n✅ 已记录:纳图电气 65%\n"
                                "张主任 · 今天09:00 · 主体厂房封顶")


def test_demo_as_cadre_and_other_time():
    out = console("--demo", "--as", "cadre", "--now", "2026-01-05T10:00", stdin="/whoami\n/tasks overdue\n")
    assert "王干部:干部,专班:项目一专班" in out
    # all second-half targets were due 2025-12-31: five days later they are overdue, red
    assert "逾期事项(共18项" in out
    assert "🔴" in out and "逾期5天" in out


def test_demo_does_not_touch_the_real_database(tmp_path):
    config = tmp_path / "config.yaml"
    db = tmp_path / "real.sqlite3"
    config.write_text(f"database:\n  url: sqlite:///{db}\n", encoding="utf-8")
    subprocess.run([sys.executable, "run.py", "--config", str(config), "console", "--demo"],
                   input="/update 纳图电气 65% 封顶\n", capture_output=True, text=True,
                   cwd=PROJECT_ROOT, timeout=120, check=True)
    assert not db.exists()


def test_help_lists_commands():
    out = console("--demo", stdin="/help\n")
    for word in ("/kpi", "/tasks", "/update", "/due", "/invite"):
        assert word in out
    assert "/start" not in out  # the demo person is bound already
