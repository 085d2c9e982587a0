# Each target creates .venv and installs the project first (again only when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The studio's browser tests drive Debian's chromium (offline, no browser download): installed when missing.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo run serve test lint sqlfluff clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/settlement demo

# After `make demo`, on the same database: settle a day again (DATE=YYYY-MM-DD, default yesterday), serve the API.
run: install
	$(BIN)/settlement run $(if $(DATE),--date $(DATE))

serve: install
	$(BIN)/settlement serve

chromium:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the studio's browser tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "error: could not install Debian's chromium package (apt-get install chromium), which the studio's browser tests need" >&2; exit 1; }

# The suite on two workers, a test file per worker at a time, the Citus cluster's tests (fixed ports) all
# on one of them and the plain dbt ones (the project's one target/) on one (tests/conftest.py schedules
# them so); then, alone, what is timing-sensitive or breaks under xdist (marker serial).
# Each pytest fails when no test ran.
test: install chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(MAKE) --no-print-directory sqlfluff
	$(BIN)/pytest -n 2 --dist loadfile -m "not serial" --durations=20
	$(BIN)/pytest -m serial --durations=10

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(MAKE) --no-print-directory sqlfluff

# sqlfluff's dbt templater, on an empty database of its own (tests/lint_models.py says why and where).
sqlfluff: install
	$(BIN)/python -m tests.lint_models

clean:
	rm -rf $(VENV) .data target dbt_packages logs
