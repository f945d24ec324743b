"""Load YAML files so that every error names the file, the line and the key.

Used for config.yaml and for datasets: a broken file must stop the program with a message an
IT admin can act on, never a stack trace.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError


class FileError(Exception):
    """A config or data file that cannot be used; the message names file, line and key."""


def load_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    """Return the parsed document and a map from key path to 1-based line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileError(f"{path}: 文件不存在 (file not found)") from None
    except UnicodeDecodeError as exc:
        raise FileError(f"{path}: 不是 UTF-8 文本 (not UTF-8): {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FileError(f"{path}{where}: YAML 格式错误 (syntax error): {problem}") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _index(node, (), lines)
    return data, lines


def _index(node: yaml.Node, prefix: tuple, lines: dict[tuple, int]) -> None:
    lines[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (key_node.value,)
            lines[path] = key_node.start_mark.line + 1
            _index(value_node, path, lines)
            lines[path] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, prefix + (i,), lines)


Where = TypeVar("Where")  # a line number, or a text naming where a value came from


def line_of(lines: Mapping[tuple, Where], loc: Iterable) -> Where | None:
    """Best line for a key path: the deepest prefix of ``loc`` that the file has (also
    works for any map from key path to where the value came from)."""
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def describe_validation_error(path: Path, lines: dict[tuple, int], exc: ValidationError) -> str:
    """Turn a pydantic error into lines like ``config.yaml:12: lights.behind_red_pp: ...``."""
    out = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = line_of(lines, loc)
        where = f"{path}:{line}" if line else str(path)
        out.append(f"{where}: {key}: {err['msg']}")
    return "\n".join(out)
