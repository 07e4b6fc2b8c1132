# The course's commands. `make test` and `make run` set everything up on a fresh machine first.
VENV    ?= .venv
PY      := $(VENV)/bin/python
JOBS    ?= 2
NB      ?= notebooks/*.ipynb
export PYTHONHASHSEED := 0
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help setup test unit notebooks nbmake lint strip run lab clean

help:
	@echo "make test     set up, lint, unit tests, every notebook in smoke mode (papermill, $(JOBS) at a time)"
	@echo "make nbmake   every notebook in smoke mode through pytest --nbmake (CI runs it too)"
	@echo "make run      every notebook at full size for this device into build/run, with a summary table"
	@echo "make lab      JupyterLab on notebooks/"
	@echo "make lint     ruff over code and notebooks, and the check that notebooks are stripped"
	@echo "make setup    only the set-up (venv, pip packages, Debian corpora when root)"

setup:
	@bash scripts/setup.sh

lint: setup
	$(PY) -m ruff check course_utils tests notebooks
	$(PY) -m course_utils.nbclean --check notebooks

unit: setup
	$(PY) -m pytest -m "not notebook" -q

notebooks: setup
	COURSE_SMOKE=1 $(PY) -m pytest -m notebook -q -n $(JOBS) --dist loadgroup

test: setup lint
	COURSE_SMOKE=1 $(PY) -m pytest -q -n $(JOBS) --durations=15

nbmake: setup
	COURSE_SMOKE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest --nbmake -q -n $(JOBS) --nbmake-timeout=300 -p no:randomly $(NB)

run: setup
	$(PY) -m course_utils.runner $(NB) --out build/run --jobs 1

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf build .pytest_cache .ruff_cache

strip: setup
	$(PY) -m course_utils.nbclean notebooks
