# The course's commands. `make test` and `make run` set everything up on a fresh machine first.
VENV    ?= .venv
PY      := $(VENV)/bin/python
JOBS    ?= 2
NB      ?= notebooks/*.ipynb
STUDENT ?= student/*.ipynb
SITE_VENV ?= .venv-site
SITE_PY := $(SITE_VENV)/bin/python
export PYTHONHASHSEED := 0
# Tests, runs and CI stay offline (nothing reaches the Hub); `make lab` leaves that choice to the notebook
# (ONLINE = None detects a network), so a learner online gets the Hub cells.
test unit notebooks nbmake fresh run bench gpu-dry floor canary doctor: export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
# Headless runs save a finished line per progress bar, not a widget frozen at 0% (course_utils.progress_bars).
nbmake: export COURSE_HEADLESS := 1
# The student editions run on a second seed (the tests run seed 0): an outcome check that holds for one seed only fails.
nbmake: export COURSE_SEED ?= 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help setup learner gpu-dry test unit notebooks nbmake fresh lint strip sync publish hooks run bench lab clean student figures site site-test site-setup \
        lock floor canary doctor

help:
	@echo "make test     set up, lint, unit tests, every notebook in smoke mode (papermill, $(JOBS) at a time)"
	@echo "make nbmake   every student edition (exercises unsolved) in smoke mode, seed 1, through pytest --nbmake (CI runs it)"
	@echo "make fresh    the Colab path: a fresh venv with only Colab's packages runs 01, 07, 10b from outside the checkout"
	@echo "make run      every notebook at full size for this device into build/run, with a summary table and ETA"
	@echo "make gpu-dry  the notebooks with GPU sizes run those sizes here, loops capped at 2 steps (CI runs it)"
	@echo "make bench    like run, and a table of seconds and metrics beside the previous run's (build/bench)"
	@echo "make lab      JupyterLab on student/ (the learner's edition; notebooks/ holds the solutions)"
	@echo "make learner  only what the notebooks need (no test or lint tools); TORCH=cpu: the CPU-only torch wheel"
	@echo "make lint     ruff, mypy, notebooks stripped, one parameters cell, the set-up cell, student/ and the README syllabus in step"
	@echo "make strip    strip notebook outputs (nbstripout --keep-id, the same rule as the pre-commit hook)"
	@echo "make sync     write the Colab badge and the shared set-up cell into every notebook"
	@echo "make publish REPO=https://github.com/<owner>/<repo>   set the course's URL everywhere (badges, set-up cells)"
	@echo "make hooks    install the pre-commit hooks (nbstripout, ruff, notebook checks)"
	@echo "make student  the student editions (solutions replaced by stubs) into student/, and the references"
	@echo "make site     the website (build/site) from the executed notebooks of make run (SMOKE=1: of the smoke run), with slides, notes, schedule"
	@echo "make site-test  the built site in headless Chromium: pages, links, images, search, Colab links, screenshots"
	@echo "make figures  draw the diagrams (course_utils/figures) into notebooks/figures and embed them in the notebooks"
	@echo "make setup    only the set-up (venv, exactly the locked pip packages, Debian corpora when root)"
	@echo "make doctor   what is installed vs what the course tested, the corpora and the cache, each problem with its fix"
	@echo "make lock     regenerate requirements.lock (uv, every platform) from requirements.txt's ranges"
	@echo "make floor    the unit tests and smoke notebooks on the lowest versions the ranges allow (throwaway venv)"
	@echo "make canary   the same on the newest versions the ranges allow, and a table against the lock"

setup:
	@INSTALL=$${INSTALL:-developer} bash scripts/setup.sh

learner:
	@INSTALL=learner bash scripts/setup.sh
	@echo "== the learner install is ready: make lab opens the lessons"

lint: setup
	$(PY) -m ruff check course_utils tests notebooks
	$(PY) -m mypy
	$(PY) -m course_utils.nbclean --check notebooks
	$(PY) -m course_utils.practice.student notebooks --check
	$(PY) -m course_utils.syllabus --check
	$(PY) -m course_utils.figures --check notebooks

unit: setup
	$(PY) -m pytest -m "not notebook" -q

notebooks: setup
	COURSE_SMOKE=1 $(PY) -m pytest -m notebook -q -n $(JOBS)

test: setup lint
	COURSE_SMOKE=1 $(PY) -m pytest -q -n $(JOBS) --durations=15

nbmake: setup
	COURSE_SMOKE=1 OMP_NUM_THREADS=$$($(PY) -m course_utils.cpu $(JOBS)) MKL_NUM_THREADS=$$($(PY) -m course_utils.cpu $(JOBS)) \
	  $(PY) -m pytest --nbmake -q -n $(JOBS) --nbmake-timeout=300 -p no:cacheprovider $(STUDENT)

fresh: setup
	COURSE_FRESH_RUNTIME=1 $(PY) -m pytest -q -m fresh -p no:cacheprovider tests/test_fresh_runtime.py

run: setup
	$(PY) -m course_utils.runner $(NB) --out build/run --jobs 1

bench: setup
	$(PY) -m course_utils.runner $(NB) --out build/run --jobs 1 --bench build/bench

gpu-dry: setup
	$(PY) -m course_utils.runner $(NB) --out build/gpu-dry --jobs 1 --gpu-dry

lab:
	@INSTALL= DEFAULT_INSTALL=learner bash scripts/setup.sh
	$(VENV)/bin/jupyter lab student/

clean:
	rm -rf build .pytest_cache .ruff_cache

strip: setup
	$(PY) -m course_utils.nbclean notebooks

sync: setup
	$(PY) -m course_utils.setup_cell notebooks

publish: setup
	@test -n "$(REPO)" || { echo "usage: make publish REPO=https://github.com/<owner>/<repo>"; exit 2; }
	$(PY) -m course_utils.setup_cell --repo $(REPO) notebooks

hooks: setup
	$(VENV)/bin/pre-commit install

doctor:
	@INSTALL= bash scripts/setup.sh
	$(PY) -m course_utils.doctor

lock: setup
	$(PY) -m course_utils.lock compile

floor: setup
	$(PY) -m course_utils.canary floor --out build/floor

canary: setup
	$(PY) -m course_utils.canary canary --out build/canary

figures: setup
	$(PY) -m course_utils.figures notebooks

student: setup
	$(PY) -m course_utils.practice.student notebooks

# The website's tools live in their own venv (requirements-site.txt): a learner's set-up does not grow.
$(SITE_VENV)/.site-installed: requirements-site.txt
	test -x $(SITE_PY) || python3 -m venv $(SITE_VENV)
	$(SITE_PY) -m pip install -q --disable-pip-version-check -r requirements-site.txt
	touch $@

site-setup: $(SITE_VENV)/.site-installed

site: site-setup
	PYTHONPATH=$(CURDIR) $(SITE_PY) -m course_utils.website $(if $(filter 1,$(SMOKE)),--smoke)

site-test: site-setup
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && { apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; }; } || \
	  { echo "site-test needs Chromium: apt-get install chromium"; exit 1; }
	PYTHONPATH=$(CURDIR) $(SITE_PY) -m course_utils.site_check
