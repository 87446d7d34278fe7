# partnercast task vocabulary, for people and CI alike. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --locked --no-sync
DEMO := data/demo

.DEFAULT_GOAL := help
.PHONY: help venv run demo-data validate train serve bento notebook mlflow-ui bench bench-scenarios fuzz load screenshots chromium test lint format clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

venv: ## create .venv (if missing) and install the locked dependencies
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --locked --quiet

$(DEMO)/partners.csv:
	$(RUN) partnercast demo-data --out $(DEMO)

demo-data: venv $(DEMO)/partners.csv ## write the demo dataset to data/demo/ unless it is there

validate: demo-data ## check the demo dataset against the data contract
	$(RUN) partnercast validate --data $(DEMO)

train: validate ## train on the demo data: backtest, MLflow run, champion behind the gate
	$(RUN) partnercast train --data $(DEMO)

run: train ## train on the demo data, then serve the API on http://127.0.0.1:3000 (Ctrl+C stops)
	$(RUN) partnercast serve

serve: venv ## serve the API over the current champions (Ctrl+C stops)
	$(RUN) partnercast serve

bento: venv ## import the champions into the BentoML store and build the Bento (no network)
	$(RUN) python -m serving.bento

notebook: venv ## open the notebooks in JupyterLab (notebooks/)
	$(UV) run --locked --with jupyterlab jupyter lab --notebook-dir notebooks

mlflow-ui: venv ## browse runs and the registry of the embedded store on http://127.0.0.1:5000
	$(RUN) mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db \
		--default-artifact-root $(CURDIR)/mlruns/artifacts --host 127.0.0.1 --port 5000

bench: venv $(if $(DATA),,$(DEMO)/partners.csv) ## ours vs mlforecast, statsforecast, causalml in one table (DATA=dir: another dataset)
	$(RUN) python benchmarks/peers.py --data $(or $(DATA),$(DEMO)) --uv "$(UV)"

bench-scenarios: venv ## forecaster and recommender on every scenario world vs references (ARGS="--quick")
	$(RUN) python benchmarks/scenarios.py $(ARGS)

fuzz: venv ## schemathesis against a live service on the current champions, 200 cases per operation
	$(RUN) python benchmarks/fuzz.py $(if $(DATA),--data $(DATA),)

load: venv ## 32 clients for 5 minutes against a live service, through a reload and a dataset change
	$(RUN) python benchmarks/load.py $(if $(DATA),--data $(DATA),)

chromium: ## install Debian's chromium and chromium-driver for the app's browser tests (as root)
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

screenshots: venv $(if $(DATA),,$(DEMO)/partners.csv) ## the planner app's pages at 1366x768 in build/screenshots/, and their timings (needs Chromium)
	$(RUN) python benchmarks/app_pages.py $(if $(DATA),--data $(DATA),)

test: venv ## the whole test suite (with the optional Dask extra, so the --dask tests run)
	@$(UV) sync --locked --quiet --extra dask
	$(RUN) pytest -n auto --dist loadgroup

lint: venv ## ruff lint and format check, and the layer contracts (import-linter)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports

format: venv ## ruff format and autofix
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

clean: ## remove the venv, demo data and the local MLflow store
	rm -rf .venv data/demo mlruns/*.db mlruns/artifacts build
