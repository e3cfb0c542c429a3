# Two commands matter: `make lab` (JupyterLab on the notebooks) and `make test` (every test).
# Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# What `make lab` installs (requirements.txt: the notebooks only), and what `make test` adds (requirements-dev.txt).
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Node tools for the tests (newman runs the exported Postman collection), pinned by dev/package-lock.json.
NODE_STAMP := dev/node_modules/.installed
# Open a browser only where there is a screen to open it on.
LAB_BROWSER := $(if $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s))),,--no-browser)
# Containers and CI machines often run as root, which JupyterLab refuses without this flag.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test test-quick test-live browser record lint format clean lite

# Exactly the README's plain pip path, then the tutorial's package made editable (--no-deps: nothing more is
# installed) so that a change to helpers/ shows in the notebooks without reinstalling.
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(DEV_STAMP)

$(NODE_STAMP): dev/package.json dev/package-lock.json
	npm ci --prefix dev --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# Kernels with CurveZMQ keys where jupyter_client and pyzmq can give them (helpers/recording.py): without, each
# notebook opened prints "Kernel is running over TCP without encryption" here. Asked only when lab runs.
LAB_KERNEL_KEYS = $(shell $(PY) -c "from helpers.recording import kernel_key_arguments as k; print(*k())")

# LAB_ARGS passes extra options, e.g. make lab LAB_ARGS="--ServerApp.port=8890".
lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(LAB_BROWSER) $(LAB_ROOT) $(LAB_KERNEL_KEYS) --ServerApp.root_dir=notebooks $(LAB_ARGS)

# -rfEs: the summary lists failures, errors and every skipped test with its reason.
PYTEST_ARGS := --nbval -rfEs

# Debian's chromium for the browser tests (tests/e2e). Where it cannot be installed they skip, except in CI.
browser:
	@bash dev/install-chromium.sh

test: $(DEV_STAMP) $(NODE_STAMP) browser
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest $(PYTEST_ARGS) tests sandbox_tests notebooks

# The same without the browser tests (e2e) and the slow ones (fresh virtual environments for plain pip and
# Python 3.12/3.13, the five-learner JupyterHub), for a quick local run.
test-quick: $(DEV_STAMP) $(NODE_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest $(PYTEST_ARGS) -m "not e2e and not slow" tests sandbox_tests notebooks

# The browser edition (JupyterLite) into build/lite/, from the pinned inputs of dev/lite/ (see dev/lite/build.py). Its tools
# have their own virtual environment: the notebooks' .venv never needs JupyterLite.
LITE_TOOLS := build/lite-tools
LITE_STAMP := $(LITE_TOOLS)/.installed

$(LITE_STAMP): dev/lite/requirements.txt
	$(PYTHON) -m venv $(LITE_TOOLS)
	$(LITE_TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(LITE_TOOLS)/bin/python -m pip install --quiet -r dev/lite/requirements.txt
	touch $(LITE_STAMP)

lite: $(LITE_STAMP)
	$(LITE_TOOLS)/bin/python dev/lite/build.py

record: $(STAMP)
	$(PY) -m helpers record

# The notebooks top to bottom against the live API, with your key (it costs a few cents, said before it starts):
# every cell runs, none shows an error, every answer has text and a usage.cost. Structure, not text.
test-live: $(STAMP)
	$(PY) -m helpers.live_notebooks

lint: $(DEV_STAMP)
	$(PY) -m ruff check .

format: $(DEV_STAMP)
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) dev/node_modules .pytest_cache .ruff_cache
