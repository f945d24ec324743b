# Duban 督办 — the two commands a newcomer needs:
#   make demo   chat in the terminal on the report's data (SQLite, console channel)
#   make test   run the whole test suite (SQLite, and PostgreSQL when reachable)
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python

.PHONY: demo test install system-deps bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

system-deps:
	bash scripts/install-system-deps.sh

demo: install
	$(PY) run.py console --demo

test: install system-deps
	$(PY) -m pytest

bench: install
	$(PY) -m bench

clean:
	rm -rf var/out var/*.sqlite3* .pytest_cache
