# Duban 督办 — the two commands a newcomer needs:
#   make demo   chat in the terminal on the report's data (SQLite, console channel)
#   make test   run the whole test suite (SQLite, and PostgreSQL when reachable); no root needed
# Others:
#   make fonts  install the CJK font for charts (apt-get; root or sudo). Without it only the
#               picture tests are skipped, with the reason.
#   make browser  install Chromium (apt-get; root or sudo) for the 驾驶舱 browser test; without it
#               that test is skipped, with the reason.
#   make pg-client  install pg_dump/pg_restore (PostgreSQL backups; apt-get, root or sudo)
#   make lock   regenerate requirements.lock (hashes) after editing requirements.txt
#   make clean  remove generated files and the .venv (also a half-built one)
#
# Slow or blocked downloads: use a package mirror, e.g.
#   make demo PIP_INDEX_URL=https://mirrors.aliyun.com/pypi/simple/
# (or `export PIP_INDEX_URL=...`: make passes it on to pip). The lock's hashes still apply.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
LOCK    = requirements.lock

.PHONY: demo test install fonts browser pg-client system-deps lock bench clean check-python

# Python >= 3.11 before anything is created, and a plain message saying what to install.
check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
	  echo "Duban needs Python 3.11 or newer; '$(PYTHON)' is: $$($(PYTHON) --version 2>/dev/null || echo 'not found')." >&2; \
	  echo "  Debian 12 / Ubuntu 24.04: sudo apt-get install python3 python3-venv" >&2; \
	  echo "  Ubuntu 22.04: sudo apt-get install python3.11 python3.11-venv, then: make PYTHON=python3.11 ..." >&2; \
	  echo "  (an old .venv from another Python: make clean)" >&2; \
	  exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "'$(PYTHON)' has no venv/ensurepip module: sudo apt-get install python3-venv (or python3.11-venv)" >&2; \
	  exit 1; }

# A .venv is only kept once it is complete: a failed create leaves nothing behind.
$(PY): | check-python
	@rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

$(VENV)/.installed: $(LOCK) | $(PY)
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { \
	  echo "$(VENV) was made with an older Python: run make clean, then make again" >&2; exit 1; }
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	touch $@

install: $(VENV)/.installed

# The CJK font for charts (needs root or sudo). CI calls it; `make test` does not.
fonts:
	bash scripts/install-system-deps.sh

# Chromium from the system packages, for the 驾驶舱 browser test. CI calls it; `make test` does not.
browser:
	bash scripts/install-browser.sh

system-deps: fonts pg-client

# pg_dump / pg_restore for `run.py backup` / `restore` on PostgreSQL (root or sudo). Without them
# the PostgreSQL backup tests are skipped with the reason; SQLite backups need nothing.
pg-client:
	@command -v pg_dump >/dev/null 2>&1 && command -v pg_restore >/dev/null 2>&1 \
	  && echo "pg-client: pg_dump already installed" \
	  || { $$( [ "$$(id -u)" -ne 0 ] && echo sudo ) apt-get update -qq \
	       && DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" -ne 0 ] && echo sudo ) \
	          apt-get install -y -qq --no-install-recommends postgresql-client; }

# requirements.txt (top-level pins) -> requirements.lock (all dependencies, with hashes).
lock: install
	$(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links --output-file $(LOCK) requirements.txt

demo: install
	$(PY) run.py console --demo

test: install
	$(PY) -m pytest

bench: install
	$(PY) -m bench

# Only generated things: the venv, test/demo output, caches. Never the database (var/*.sqlite3),
# received photos (var/photos), config.local.yaml or data: delete those yourself if you mean it.
clean:
	rm -rf $(VENV) var/out .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -not -path './.git/*' -prune -exec rm -rf {} +
