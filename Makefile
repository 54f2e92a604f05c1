# docfuse: `make demo` runs the main job, `make test` the tests. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench ranker mutation clean

setup: $(VENV)/.installed

# transformers as GPU images ship it (5.17), beside the pinned one: the tests run the GPU
# benchmark's smoke mode on it too, since its model API differs (tests/test_bench_gpu.py).
GPU_TRANSFORMERS := $(VENV)/transformers-5.17

$(GPU_TRANSFORMERS)/.installed: $(VENV)/.installed
	$(BIN)/pip install --quiet --no-warn-conflicts --target $(GPU_TRANSFORMERS) transformers==5.17.0
	touch $@

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/docfuse demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint $(GPU_TRANSFORMERS)/.installed
	$(BIN)/pytest

bench: setup
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/vision.py
	$(BIN)/python bench/feature_cache.py

# The extractive engine's shipped ranker and candidate sets, rebuilt from the development
# data (reproducible: same data, same files), with its held-out-family figures.
DATA ?= ../shared/data
ranker: setup
	$(BIN)/docfuse train-extractor --no-base --no-corrections \
	  --data $(DATA)/invoices-dev:docfuse --data $(DATA)/sroie-dev:sroie --synthetic 150 \
	  --out pipeline/engines/extractor-ranker.json \
	  --save-sets pipeline/engines/extractor-sets.npz --cross-validate

# Mutation testing (not in CI, it takes longer than the suite): mutmut mutates the packages
# [tool.mutmut] in pyproject.toml names, runs the tests that reach each mutant, and keeps its
# results in mutants/ so a rerun only tries what changed (rm -rf mutants for a fresh run).
# The last line printed is the score; docs/testing.md has the latest figures. The memory
# cap stops a mutant that appends forever before it takes the machine down with it, and
# HF_HUB_OFFLINE one that loads a model from the hub instead of the test's folder.
# MUTANTS narrows the run, e.g. make mutation MUTANTS='pipeline.grounding.*'; with
# RECHECK_EQUIVALENTS=1 the mutants listed as equivalent run again (see docs/testing.md).
MUTANTS ?=
# Two mutants run at once, one per core: torch keeps to one thread in each.
mutation: setup
	ulimit -v 8000000 && PATH=$(abspath $(BIN)):$$PATH HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 \
	  DOCFUSE_DEV_DATA=$(abspath $(DATA)) $(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/python -m tests.mutation_score

clean:
	rm -rf $(VENV) docfuse-data docfuse-export.json mutants
