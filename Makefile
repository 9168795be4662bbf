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
# pytest-xdist: TEST_WORKERS processes (TEST_WORKERS=0: one process, no xdist); each test file stays in one worker,
# so a file's module fixtures are built once and its tests run in their order (not in pyproject's addopts: the
# interop environment has no xdist)
TEST_WORKERS ?= 2
XDIST   := -n $(TEST_WORKERS) --dist loadfile

QUERY  ?=
PREDICTIONS ?=
SPLIT  ?= validation
OUTPUT ?= evaluation

.PHONY: build-lake fetch test test-s3 test-quick interop lint docs sql report bench synth evaluate bench-evaluate bench-masks clean

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

bench-evaluate: $(BENCH_STAMP) ## Evaluation benchmark: oilake evaluate vs the per-image reference (EVAL_SCALE, default 1)
	$(BIN)/python -m benchmarks.evaluation --scale $(or $(EVAL_SCALE),1) $(ARGS)

bench-masks: $(BENCH_STAMP) ## Mask benchmark: PNG decode + RLE encode, oilake vs Pillow + pycocotools (MASK_SCALE, default 0.015)
	$(BIN)/python -m benchmarks.masks --scale $(or $(MASK_SCALE),0.015) $(ARGS)

test: $(STAMP) ## Run the test suite, but the S3 round trips (make test-s3)
	$(BIN)/python -m pytest $(XDIST) -m "not s3"

test-s3: $(STAMP) ## Run the tests that use the S3 (moto) server: lakes and sources on object storage (CI runs it)
	$(BIN)/python -m pytest $(XDIST) -m s3

test-quick: $(STAMP) ## Run the tests that start no server and generate no data at scale (-m "not slow and not server")
	$(BIN)/python -m pytest $(XDIST) -m "not slow and not server"

# `make interop`: other engines in their own environment (tests/interop/requirements.txt), never in .venv
INTEROP       := .venv-interop
INTEROP_STAMP := $(INTEROP)/.installed-stamp

$(INTEROP_STAMP): pyproject.toml tests/interop/requirements.txt
	$(PYTHON) -m venv $(INTEROP)
	echo '*' > $(INTEROP)/.gitignore
	$(INTEROP)/bin/python -m pip install --quiet --upgrade pip
	$(INTEROP)/bin/python -m pip install --quiet -e . -r tests/interop/requirements.txt
	touch $(INTEROP_STAMP)

interop: $(INTEROP_STAMP) ## Spark (local[2]), Dask and Ray read every table as DuckDB does (venv .venv-interop; Spark needs Java 17+)
	@command -v java >/dev/null || { echo "make interop: Spark needs Java 17 or later on PATH (Debian: apt-get install default-jre-headless)" >&2; exit 1; }
	$(INTEROP)/bin/python -m pytest tests/interop/check_engines.py

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

report: $(STAMP) ## Write LAKE's HTML report (one self-contained file) to REPORT (default report.html)
	$(BIN)/oilake report --lake "$(LAKE)" --output "$(or $(REPORT),report.html)"

evaluate: $(STAMP) ## Score PREDICTIONS against LAKE's SPLIT (default validation) into OUTPUT (default evaluation/)
	$(BIN)/oilake evaluate --lake "$(LAKE)" --predictions "$(PREDICTIONS)" --split "$(SPLIT)" --output "$(OUTPUT)" $(ARGS)

clean: ## Remove the virtualenv and the default lake
	rm -rf $(VENV) $(INTEROP) lake .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
