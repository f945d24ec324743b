"""python-telegram-bot is used through its public API only: no ``telegram._…`` module is
imported and no ``_``-prefixed attribute is read on anything but our own ``self``/``cls``
in a module that imports telegram (a private name breaks silently on a PTB upgrade)."""
from __future__ import annotations

import ast
from pathlib import Path

from telegram.ext import BaseUpdateProcessor

from channels.telegram.bot import PerChatUpdateProcessor

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["bot", "handlers", "jobs", "channels", "cli", "bench", "testing"]


def project_files() -> list[Path]:
    files = [ROOT / "run.py"]
    for package in PACKAGES:
        files.extend(sorted((ROOT / package).rglob("*.py")))
    return [path for path in files if path.exists()]


def private_ptb_uses(source: str) -> list[str]:
    tree = ast.parse(source)
    found: list[str] = []
    imports_telegram = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "telegram":
                    imports_telegram = True
                    if any(part.startswith("_") for part in alias.name.split(".")[1:]):
                        found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "telegram":
            imports_telegram = True
            if any(part.startswith("_") for part in node.module.split(".")[1:]):
                found.append(f"line {node.lineno}: from {node.module} import …")
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
    if imports_telegram:
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                found.append(f"line {node.lineno}: ._{node.attr[1:]}")
    return found


def test_the_scan_finds_private_names():
    source = ("import telegram._utils.types\nfrom telegram._bot import Bot\nfrom telegram import _x\n"
              "async def f(bot):\n    await bot._post('sendMessage', {})\n")
    assert private_ptb_uses(source) == [
        "line 1: import telegram._utils.types",
        "line 2: from telegram._bot import …",
        "line 3: from telegram import _x",
        "line 5: ._post",
    ]


def test_no_private_python_telegram_bot_name_is_used():
    offenders = {str(path.relative_to(ROOT)): uses for path in project_files()
                 if (uses := private_ptb_uses(path.read_text(encoding="utf-8")))}
    assert offenders == {}


def test_final_methods_are_not_overridden_and_hooks_come_from_the_builder():
    assert PerChatUpdateProcessor.process_update is BaseUpdateProcessor.process_update
    rewritten = []
    for path in project_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and target.attr in ("post_init", "post_stop",
                                                                             "post_shutdown"):
                        rewritten.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert rewritten == []
