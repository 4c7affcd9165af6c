# ai-detector — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make serve`'s own archive: never DVC's model_store/ output, so serving leaves dvc.lock true.
MODEL_STORE ?= build/model_store
LOGS ?= logs
# Debian packages come from apt-get, as root or through sudo.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed"; exit 1; }
	# TorchServe's frontend needs Java 17.
	@command -v java >/dev/null || { $(SUDO) apt-get update -qq && $(APT_INSTALL) openjdk-17-jre-headless; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, from this machine's disk (a CUDA build that runs on the CPU).
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the project with every extra

# Rebuilt only when its inputs change, so a second `make serve` leaves the archive that
# the running server uses alone.
MAR_INPUTS := src/ai_detector/serving/handler.py src/ai_detector/serving/model-config.yaml \
	src/ai_detector/serving/archive.py src/ai_detector/contract.py \
	$(wildcard models/model/*) $(wildcard src/ai_detector/inference/default_model/*)
$(MODEL_STORE)/ai-detector.mar: $(STAMP) $(MAR_INPUTS)
	$(BIN)/python -m ai_detector.pipeline.package --out $(MODEL_STORE)

mar: $(MODEL_STORE)/ai-detector.mar ## Build build/model_store/ai-detector.mar (models/model if present, else the packaged default)

serve: mar ## Set up, build the archive and start TorchServe on 127.0.0.1:8080
	$(BIN)/python -m ai_detector.serving.torchserve start --model-store $(MODEL_STORE) --logs $(LOGS)
	@echo "Stop it with: make stop"

demo: serve ## The demo page on 127.0.0.1:8090 (TorchServe started if needed); Ctrl-C stops the page
	$(BIN)/python -m ai_detector.apps.demo --config config.properties

stop: ## Stop the TorchServe started by `make serve`
	$(BIN)/python -m ai_detector.serving.torchserve stop --logs $(LOGS)

browser: ## Debian's Chromium, for the demo page's browser test (never a downloaded browser)
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(APT_INSTALL) chromium; }

test: $(STAMP) browser ## Set up (Java, Chromium, .venv) and run every test (unit + integration with a real TorchServe)
	$(BIN)/pytest

# The tests whose answers depend on the CPU's int8 kernels: the probe, the precision rule,
# the Predictor, the cascade, request answering and the CLI.
AVX2_TESTS := $(addprefix tests/unit/,test_int8_sessions.py test_precision.py test_predictor.py \
	test_cascade.py test_serving.py test_explain.py test_handler.py test_cli.py test_cli_explain.py \
	test_preprocess.py)
test-avx2: $(STAMP) ## The CPU-dependent unit tests on an emulated AVX2-only AMD EPYC (qemu-user, no VNNI; ~6 min)
	@command -v qemu-x86_64 >/dev/null || { $(SUDO) apt-get update -qq && $(APT_INSTALL) qemu-user; }
	qemu-x86_64 -cpu EPYC-Rome $(BIN)/python -m pytest -q -p no:cacheprovider $(AVX2_TESTS) \
		2> >(grep -v "TCG doesn't support" >&2)

test-fast: $(STAMP) ## Unit tests only
	$(BIN)/pytest tests/unit -m "not slow"

lint: $(STAMP) ## ruff, mypy and hadolint
	$(BIN)/ruff check src tests docker loadtest bench harness
	$(BIN)/ruff format --check src tests docker loadtest bench harness
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

docker: ## Build both images (needs a Docker engine with BuildKit)
	docker build -t ai-detector-serve:v1 .
	docker build --target batch -t ai-detector:v1 .

repro: $(STAMP) ## Run the training pipeline (dvc repro) on the data in configs/sources
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

SEEDS ?= 42 7 123
PARAMS ?= params.yaml
seeds: $(STAMP) ## A recipe's run-to-run spread: the train section of PARAMS (params.yaml) at SEEDS (42 7 123), after `make repro`; about 40 min per seed
	$(BIN)/python -m ai_detector.pipeline.seeds --seeds $(SEEDS) --params $(PARAMS)

RECORDS ?= data/prepared/records.csv
SPLIT_FILE ?= configs/splits.csv
freeze-splits: $(STAMP) ## Freeze the split of RECORDS (data/prepared) into SPLIT_FILE (configs/splits.csv); to re-split on purpose, prepare with `prepare.splits: ""` first, then retrain
	$(BIN)/python -m ai_detector.pipeline.data.splits $(RECORDS) $(SPLIT_FILE)

dvc-remote-dagshub: ## Add DagsHub as a DVC remote; needs DAGSHUB_USER, DAGSHUB_REPO, DAGSHUB_TOKEN and `pip install dvc-s3`
	@test -n "$$DAGSHUB_USER" -a -n "$$DAGSHUB_REPO" -a -n "$$DAGSHUB_TOKEN" || { echo "set DAGSHUB_USER, DAGSHUB_REPO and DAGSHUB_TOKEN"; exit 1; }
	$(BIN)/dvc remote add --force dagshub s3://dvc
	$(BIN)/dvc remote modify dagshub endpointurl "https://dagshub.com/$$DAGSHUB_USER/$$DAGSHUB_REPO.s3"
	# Credentials go to .dvc/config.local, which git ignores.
	$(BIN)/dvc remote modify --local dagshub access_key_id "$$DAGSHUB_TOKEN"
	$(BIN)/dvc remote modify --local dagshub secret_access_key "$$DAGSHUB_TOKEN"

default-model: ## Make the model from `dvc repro` the one shipped in the package
	test -f models/model/metadata.json || { echo "run make repro first"; exit 1; }
	rm -rf src/ai_detector/inference/default_model && mkdir -p src/ai_detector/inference/default_model
	cp models/model/*.onnx models/model/metadata.json models/MODEL_CARD.md src/ai_detector/inference/default_model/

bot: $(STAMP) ## Run the Telegram bot (needs BOT_TOKEN; uses the service at AI_DETECTOR_URL, default http://127.0.0.1:8080)
	$(BIN)/python -m ai_detector.apps.bot

loadtest: $(STAMP) ## Locust against the service (started if needed): SLO check and report in loadtest/report
	$(BIN)/python -m loadtest.run

loadtest-ramp: $(STAMP) ## Locust in rising steps: the highest rate that still holds the p95 objective
	$(BIN)/python -m loadtest.run --shape ramp

bench: $(STAMP) ## In-process limit vs our TorchServe vs an eager fp32 baseline, one run (about 13 min)
	$(BIN)/python -m bench.run --wait-idle 300
	$(BIN)/python -m bench.provenance

clean: ## Remove build outputs (keeps .venv)
	rm -rf build $(LOGS) .pytest_cache .mypy_cache .ruff_cache

.PHONY: help setup mar serve demo stop browser test test-avx2 test-fast lint repro seeds dvc-remote-dagshub default-model docker bot loadtest loadtest-ramp bench clean
