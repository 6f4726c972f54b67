# One entry point for set-up and checks. Every target creates the virtual
# environment on first use, so `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Without an NVIDIA driver, take the CPU build of torch from PyTorch's CPU wheel index
# (the default index resolves torch to the CUDA build and ~20 nvidia-* wheels, several GB
# a CPU cannot use). scripts/torch_index.py probes that index for a few seconds and falls
# back to the configured index when it cannot be reached.
TORCH_SPEC ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo "torch>=2.4" || echo "torch==2.13.0")

.PHONY: setup demo test test-gpu lint types check bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $$($(PYTHON) scripts/torch_index.py) "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

demo: setup
	$(VENV)/bin/torchwarden run

test: setup
	$(PY) -m pytest -q

test-gpu: setup
	$(PY) -m pytest -q tests/gpu

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

types: setup
	$(PY) -m mypy

check: lint types test

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
