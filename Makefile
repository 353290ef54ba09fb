# Two commands set up and run everything on a fresh machine:
#   make run    set up the environment, then run the default workflow (config/config.yaml) on 2 cores
#               and build reports/report.html
#   make test   set up the environment, then run the test suite
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Workflow rules call `python -m revmux`: the environment's interpreter must come first.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup run test

setup: $(STAMP)

# torch first and pinned, so that nothing later asks pip for another build. PyPI's Linux torch is the CUDA
# build (GBs of nvidia packages); on a machine without a GPU, take the CPU build from PyTorch's own index:
#   make run TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
$(STAMP): requirements.lock pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -qq --disable-pip-version-check $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch==2.13.0
	$(PYTHON) -m pip install -qq --disable-pip-version-check -r requirements.lock
	$(PYTHON) -m pip install -qq --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# The run ends by building the one-file HTML report from its tables and figures.
run: setup
	$(PYTHON) -m snakemake --cores 2 --report reports/report.html --report-after-run

test: setup
	$(PYTHON) -m pytest --durations=10
