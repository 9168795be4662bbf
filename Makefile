# oilake: `make build-lake` builds the lake, `make test` runs the tests.
# Both create .venv and install the package on first use; nothing else is needed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SOURCE ?=
LAKE   ?= lake
ARGS   ?=
SCALE  ?= 0.01
ONLY   ?=
SPLITS ?=
BENCH_STAMP := $(VENV)/.bench-stamp

QUERY  ?=
PREDICTIONS ?=
SPLIT  ?= validation
OUTPUT ?= evaluation

.PHONY: build-lake fetch test test-quick lint docs sql bench synth evaluate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

build-lake: $(STAMP) ## Build LAKE (default ./lake) from SOURCE (default: the bundled sample)
	$(BIN)/oilake build $(if $(SOURCE),--source "$(SOURCE)") --lake "$(LAKE)" $(ARGS)

fetch: $(STAMP) ## Download the official files (ONLY=families/tables, SPLITS=...) into DEST (default openimages), verified
	$(BIN)/oilake fetch --dest "$(or $(DEST),openimages)" $(if $(ONLY),--only "$(ONLY)") $(if $(SPLITS),--splits "$(SPLITS)") $(ARGS)

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(BENCH_STAMP)

synth: $(STAMP) ## Write synthetic V6 files at SCALE (default 0.01) into DEST (default synth-SCALE)
	$(BIN)/oilake synth --scale $(SCALE) --dest "$(or $(DEST),synth-$(SCALE))" $(ARGS)

bench: $(BENCH_STAMP) ## Benchmark at SCALE (default 0.01): BENCHMARKS.md and benchmarks/results-scale-SCALE.json
	$(BIN)/oilake bench --scale $(SCALE) $(ARGS)

test: $(STAMP) ## Run the test suite
	$(BIN)/python -m pytest

test-quick: $(STAMP) ## Run the tests that start no server and generate no data at scale (-m "not slow and not server")
	$(BIN)/python -m pytest -m "not slow and not server"

lint: $(STAMP) ## ruff (check, format), mypy over pipeline/, the import-layer contracts, sqlfluff over sql/
	$(BIN)/ruff check pipeline tests benchmarks
	$(BIN)/ruff format --check pipeline tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/sqlfluff lint sql

docs: $(STAMP) ## Regenerate docs/data-dictionary.md (schemas/), docs/views.md (sql/) and docs/cli.md (the commands)
	$(BIN)/oilake docs --output docs/data-dictionary.md
	$(BIN)/oilake docs --views --output docs/views.md
	$(BIN)/oilake docs --cli --output docs/cli.md

sql: $(STAMP) ## Run QUERY on LAKE's catalog, or open the SQL shell when QUERY is empty
	$(BIN)/oilake sql --lake "$(LAKE)" $(if $(QUERY),"$(QUERY)")

evaluate: $(STAMP) ## Score PREDICTIONS against LAKE's SPLIT (default validation) into OUTPUT (default evaluation/)
	$(BIN)/oilake evaluate --lake "$(LAKE)" --predictions "$(PREDICTIONS)" --split "$(SPLIT)" --output "$(OUTPUT)" $(ARGS)

clean: ## Remove the virtualenv and the default lake
	rm -rf $(VENV) lake .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
