# Every target creates (once) and reuses the local virtual environment in .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: report test test-fast lab bench lint clean

# One pytest worker per core (pytest-xdist). The reports the tests read (the real notebooks
# run once) are still built once per run: the first worker builds, the others load it
# (tests/conftest.py). XDIST= runs serially.
XDIST ?= -n auto

report: $(STAMP)  ## run every notebook through papermill into reports/ (HTML)
	$(BIN)/chronik-lab report --out reports

test: $(STAMP)  ## lint, check the layer contract, run the whole test suite
	$(BIN)/ruff check chronik_lab tests benchmarks
	$(BIN)/lint-imports
	@# pytest exits 5 when it collected nothing: treat that as a failure, not a pass.
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests were collected"; exit 1; fi; exit $$rc

test-fast: $(STAMP)  ## the edit loop: skip tests marked slow, fewer hypothesis examples
	$(BIN)/ruff check chronik_lab tests benchmarks
	HYPOTHESIS_PROFILE=dev $(BIN)/python -m pytest $(XDIST) -m "not slow" -q $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests were collected"; exit 1; fi; exit $$rc

# JupyterLab's configuration is lab/ (JUPYTER_CONFIG_PATH): loopback only, no news prompt or
# update check (both would go online), root allowed only when running as root, and notebooks
# saved without their outputs. LAB_ARGS passes more, e.g. LAB_ARGS="--port 8899 --no-browser".
LAB_ARGS ?=

lab: $(STAMP)  ## open JupyterLab on notebooks/ (start with 00_start_here.ipynb), offline
	JUPYTER_CONFIG_PATH="$(CURDIR)/lab" $(BIN)/jupyter lab $(LAB_ARGS) notebooks/

bench: $(STAMP)  ## print speed and memory figures against same-run baselines
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_check.py
	$(BIN)/python benchmarks/bench_scenario.py
	$(BIN)/python benchmarks/bench_charts.py
	$(BIN)/python benchmarks/bench_explain.py
	$(BIN)/python benchmarks/bench_switchboard.py
	$(BIN)/python benchmarks/bench_wire.py

# Reinstall only when pyproject.toml changes; the kernel is registered inside the venv so
# papermill and JupyterLab use this environment, never a system one.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,notebooks,bench,dask]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (chronik_lab)"
	touch $(STAMP)

clean:
	rm -rf $(VENV) reports build *.egg-info
