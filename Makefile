# Set-up on a fresh machine with Python 3.11 and the package registries:
#   make run    create .venv when missing, install the pinned versions, run the main job
#   make test   create .venv when missing, run the whole suite once per backend
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BACKENDS ?= tensorflow jax torch
PYTEST_ARGS ?=
# Two pytest-xdist workers, each test file kept on one worker (its module fixtures built once);
# PYTEST_WORKERS=0 runs the suite in one process
PYTEST_WORKERS ?= 2
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install run test test-one clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[all,dev]"
	@touch $@

run: install
	$(PY) recipes/mitbih_hybrid.py --backend jax

# One pytest run per backend; every backend runs even if an earlier one fails.
test: install
	@status=0; for b in $(BACKENDS); do \
	  echo "=== KERAS_BACKEND=$$b ==="; start=$$(date +%s); \
	  KERAS_BACKEND=$$b $(PY) -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS) \
	    || status=1; \
	  echo "=== KERAS_BACKEND=$$b took $$(( $$(date +%s) - start )) s ==="; \
	done; exit $$status

test-one: install
	KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(PY) -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf build runs .pytest_cache
