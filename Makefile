# radnb: the two commands a newcomer needs are `make lab` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.radnb-installed
LAB_STAMP := $(VENV)/.radnb-lab-installed
PYTEST_ARGS ?=

.PHONY: lab test install install-lab data browser clean-notebooks benchmarks help colab-check binder-check test-pythons

help:
	@echo "make lab    - create .venv, install radnb, prepare sample data, start JupyterLab on notebooks/"
	@echo "make test   - create/update .venv and run the whole test suite (notebooks and browser tests included)"
	@echo "make benchmarks - print the benchmark tables"
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

test: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

benchmarks: install
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

colab-check: install
	$(PY) platforms/resolve_check.py

# Binder's build and every notebook in it (slow: a fresh venv and the whole curriculum).
binder-check: install
	$(PY) platforms/binder_check.py $(BINDER_ARGS)

test-pythons: install
	$(PY) platforms/python_versions.py 3.10 3.13

clean-notebooks: install
	$(PY) -m radnb.cli notebooks clean notebooks
