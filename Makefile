# radnb: the two commands a newcomer needs are `make lab` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.radnb-installed
LAB_STAMP := $(VENV)/.radnb-lab-installed
PYTEST_ARGS ?=

.PHONY: lab test install install-lab data browser clean-notebooks student-notebooks benchmarks fuzz help labextension hub-tools hub-test colab-check binder-check test-pythons

help:
	@echo "make lab    - create .venv, install radnb, prepare sample data, start JupyterLab on notebooks/"
	@echo "make test   - create/update .venv and run the whole test suite (notebooks and browser tests included)"
	@echo "make benchmarks - print the benchmark tables"
	@echo "make labextension - rebuild the JupyterLab extension (needs Node.js 18+ and npm; the build is committed)"
	@echo "make hub-test - run a class on a local JupyterHub (3 students, grading; deploy/jupyterhub/)"
	@echo "make student-notebooks - regenerate notebooks/ (student versions) from instructor/notebooks/"
	@echo "make fuzz   - a long mutation-fuzzing run of the DICOM reader, deidentify and phi_report (FUZZ_MUTANTS=5000)"
	@echo "make colab-check  - would installing radnb move Colab's packages? (pip's resolver, nothing installed)"
	@echo "make test-pythons - the fast tests on Python 3.10 and 3.13 (venvs under .venvs/)"
	@echo "make binder-check - build binder/ as repo2docker does, in a fresh venv, and run every notebook in it"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Reinstall when the package metadata changes. `make lab` needs radnb[lab] (JupyterLab,
# Notebook 7); `make test` needs radnb[dev] (lab + pytest, playwright, ...). The core install
# (`pip install radnb`, Colab's notebooks) brings no front end: see docs/DEVELOPING.md.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP) $(LAB_STAMP)

$(LAB_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e ".[lab]"
	touch $(LAB_STAMP)

install: $(STAMP)

install-lab: $(LAB_STAMP)

data: install-lab
	$(VENV)/bin/radnb data prepare

# Jupyter refuses to run as root without --allow-root (containers, Binder-like machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: data
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

# Headless Chromium for the real-browser tests (Debian package; never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; \
	  else \
	    echo "chromium is not installed: browser tests will be skipped (install Debian's 'chromium' package)"; \
	  fi; }

# JupyterHub's proxy (npm) for the hub test, into the ignored .hub-tools/ (nothing global).
HUB_PROXY := .hub-tools/node_modules/.bin/configurable-http-proxy
$(HUB_PROXY):
	@command -v npm >/dev/null 2>&1 || { echo "npm is needed for JupyterHub's configurable-http-proxy (Debian: apt-get install npm)"; exit 1; }
	npm install --prefix .hub-tools --no-audit --no-fund "configurable-http-proxy@^4"

hub-tools: $(HUB_PROXY)

hub-test: install hub-tools
	$(PY) -m pytest tests/test_hub.py $(PYTEST_ARGS)

test: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

benchmarks: install
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

# The JupyterLab extension: TypeScript in labextension/ -> radnb/labextension (committed, so installs need
# no Node). After a rebuild, the venv's copy (made by `pip install -e .`) is replaced by a link to the build.
LABEXT_SHARE := $(VENV)/share/jupyter/labextensions/radnb-labextension
labextension: install
	cd labextension && npm ci --no-audit --no-fund
	rm -rf radnb/labextension
	cd labextension && PYTHON=$(abspath $(PY)) npm run build
	rm -rf $(LABEXT_SHARE) && mkdir -p $(dir $(LABEXT_SHARE)) && ln -s $(CURDIR)/radnb/labextension $(LABEXT_SHARE)
	$(VENV)/bin/jupyter labextension list 2>&1 | grep radnb

# The suite fuzzes a few hundred mutants; this runs many more (choose with FUZZ_MUTANTS / FUZZ_SEED).
FUZZ_MUTANTS ?= 5000
FUZZ_SEED ?= $(shell date +%s)
fuzz: install
	@echo "fuzzing $(FUZZ_MUTANTS) mutants with seed $(FUZZ_SEED) (rerun one with FUZZ_SEED=...)"
	RADNB_FUZZ_MUTANTS=$(FUZZ_MUTANTS) RADNB_FUZZ_SEED=$(FUZZ_SEED) $(PY) -m pytest tests/test_fuzz.py -p no:cacheprovider -q $(PYTEST_ARGS)

colab-check: install
	$(PY) platforms/resolve_check.py

# Binder's build and every notebook in it (slow: a fresh venv and the whole curriculum).
binder-check: install
	$(PY) platforms/binder_check.py $(BINDER_ARGS)

test-pythons: install
	$(PY) platforms/python_versions.py 3.10 3.13

clean-notebooks: install
	$(PY) -m radnb.cli notebooks clean instructor/notebooks

# Residents open notebooks/ (make lab, Binder, Colab): the student versions, generated from the
# solution-bearing sources in instructor/notebooks/. Edit the sources, then run this target.
student-notebooks: install
	$(PY) -m radnb.cli course release instructor/notebooks notebooks
