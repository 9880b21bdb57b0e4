# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench schema migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/roster migrate
	$(BIN)/roster demo --if-empty
	$(BIN)/roster serve

test: $(STAMP)
	$(BIN)/ruff check server schema tests bench
	$(BIN)/ruff format --check server schema tests bench
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check server schema tests bench

format: $(STAMP)
	$(BIN)/ruff format server schema tests bench
	$(BIN)/ruff check --fix server schema tests bench

bench: $(STAMP)
	$(BIN)/python -m bench

schema: $(STAMP)
	$(BIN)/python -c "import schema; open('schema/schema.graphql', 'w').write(schema.sdl())"

migrate: $(STAMP)
	$(BIN)/roster migrate

clean:
	rm -rf $(VENV) var .pytest_cache
