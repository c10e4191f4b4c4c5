# Two commands do everything on a fresh machine (Python 3.11 or 3.12 with venv):
#   make report   set up .venv, run the default report suite -> reports/index.html
#   make test     set up .venv, run ruff and mypy over workbench/, then the test suite (unit, notebook smoke, nbval)
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: setup report test benchmark lab

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

setup: $(STAMP)

report: setup
	$(VENV)/bin/workbench run

test: setup
	$(VENV)/bin/ruff check workbench/
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest

benchmark: setup
	$(VENV)/bin/python benchmarks/embed_throughput.py
	$(VENV)/bin/python benchmarks/capacity_overhead.py
	$(VENV)/bin/python benchmarks/warm_rerun.py

lab: setup  # as root (a container), Jupyter refuses to start without --allow-root
	@test "$$(id -u)" != 0 || echo "make lab: running as root (as in a container), so JupyterLab gets --allow-root"
	$(VENV)/bin/jupyter lab notebooks/ $$(test "$$(id -u)" = 0 && echo --allow-root)
