# The two commands of the README's quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PIP    := $(BIN)/pip --disable-pip-version-check
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: install demo test test-fast bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e ".[test]"
	@if $(BIN)/python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('torchvision') is None)"; then \
		echo "error: torchvision is installed in $(VENV); it breaks beside the CPU torch wheel. Remove it." >&2; exit 1; fi
	touch $(STAMP)

install: $(STAMP)

demo: install  ## run the quick suite of every benchmark, then write the report
	$(BIN)/trustbench run quick --workers $(WORKERS)

test: install  ## the whole test suite, slow tests included
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: install  ## skip the tests marked slow
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"

bench: install  ## speed measurements (ratios printed side by side)
	for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf results .pytest_cache
