# The README's two commands: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The FAISS build: cpu (faiss-cpu) or gpu (faiss-gpu); the other is removed, as both install the
# module `faiss`. Switch an existing venv with `make -B venv FAISS=gpu`.
FAISS  ?= cpu
OTHER_FAISS_cpu := faiss-gpu faiss-gpu-cu12
OTHER_FAISS_gpu := faiss-cpu faiss-gpu-cu12

.PHONY: venv run test test-fast lint format bench bench-knn docker-build docker-run clean

venv: $(STAMP)

# Re-install whenever pyproject.toml changes; editable so conf/ and code edits apply at once
# (setuptools' editable finder maps ssl_app.conf to conf/).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip uninstall --quiet --yes $(OTHER_FAISS_$(FAISS))
	$(PY) -m pip install --quiet -e '.[$(FAISS),dev]'
	touch $(STAMP)

run: $(STAMP)  ## pretrain on digits (CPU, a few minutes) and print kNN / linear top-1 vs baselines
	$(VENV)/bin/ssl-pretrain

test: $(STAMP)  ## the whole test suite
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

bench: $(STAMP)  ## training-pipeline throughput: bare model vs full step
	$(PY) scripts/bench_train.py

bench-knn: $(STAMP)
	$(PY) scripts/bench_knn.py

IMAGE ?= ssl_app:latest
docker-build:
	docker build -f docker/Dockerfile -t $(IMAGE) .

docker-run:
	docker compose -f docker/compose.yaml up

clean:
	rm -rf outputs multirun lightning_logs .pytest_cache
