"""``python -m bench``: every benchmark in one run, figures printed for the README."""
from __future__ import annotations

import importlib
import sys

PARTS = ["bench.core_bench", "bench.nlu_bench", "bench.telegram_bench", "bench.reminders_bench", "bench.ledger_bench"]


def main() -> int:
    only = sys.argv[1:]
    for name in PARTS:
        if only and not any(name.endswith(o) or o in name for o in only):
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        print(f"== {name} ==", flush=True)
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
