# `make run` and `make test` set everything up on a fresh machine (a .venv with pinned torch), then run.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Reference packages the verifier parity tests compare against (their published code on random weights), kept
# apart from the environment (--no-deps: their pins would replace ours); never imported by noisesearch.
REFERENCE := $(VENV)/reference
REFERENCE_PACKAGES := hpsv2==1.2.0 image-reward==1.5 timm==1.0.31
export HF_HUB_OFFLINE := 1

.PHONY: setup run serve test test-fast chromium train-digits card-digits train-shapes card-shapes train-motion card-motion clean

# PYTHONWARNINGS=ignore: the build backend's notes (setuptools' editable-install notice) stay out of `make run`
$(STAMP): pyproject.toml setup.py constraints.txt Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools
	$(PY) -m pip install -q -c constraints.txt torch==2.14.1 torchvision==0.29.1
	PYTHONWARNINGS=ignore $(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	$(PY) -m pip install -q --no-deps --target $(REFERENCE) $(REFERENCE_PACKAGES)
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/noisesearch predict --config configs/digits.yaml --overwrite true

# Search as a service on the embedded digits world, this machine only (docs/serving.md; keys: NOISESEARCH_API_KEYS).
serve: $(STAMP)
	$(VENV)/bin/noisesearch serve --config configs/serve/digits.yaml

# The report tests open report.html in headless Chromium, the serve test drives the page through chromedriver
# (Debian's packages; needs root or sudo to install).
chromium:
	@(command -v chromium && command -v chromedriver) >/dev/null 2>&1 || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

# Everything (what CI runs); `make test-fast` leaves out the slow tests (processes, DDP, browser, bench, wheel).
test: $(STAMP) chromium
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

# Retrain the embedded digits world (about 15 minutes on 2 cores), then measure its model card figures.
train-digits: $(STAMP)
	$(PY) -m noisesearch_plugins.digits.training --config configs/train/digits.yaml
	$(PY) -m noisesearch_plugins.digits.card --weights plugins/digits/weights

card-digits: $(STAMP)
	$(PY) -m noisesearch_plugins.digits.card --weights plugins/digits/weights

train-shapes: $(STAMP)
	$(PY) -m noisesearch_plugins.shapes.training --config configs/train/shapes.yaml
	$(PY) -m noisesearch_plugins.shapes.card --weights plugins/shapes/weights

card-shapes: $(STAMP)
	$(PY) -m noisesearch_plugins.shapes.card --weights plugins/shapes/weights

# Retrain the embedded motion world in its two stages (about 2.5 hours on 2 quiet cores), then measure its model
# card figures.
train-motion: $(STAMP)
	$(PY) -m noisesearch_plugins.motion.training --config configs/train/motion.yaml
	$(PY) -m noisesearch_plugins.motion.training --config configs/train/motion-more.yaml
	$(PY) -m noisesearch_plugins.motion.card --weights plugins/motion/weights

card-motion: $(STAMP)
	$(PY) -m noisesearch_plugins.motion.card --weights plugins/motion/weights

clean:
	rm -rf outputs .pytest_cache
