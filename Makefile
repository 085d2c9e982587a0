# Each target creates .venv and installs the project first (again only when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo run serve test bench clean

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

test: install
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .data target dbt_packages logs
