# Two commands on a fresh machine: `make bench` (the synthetic suite end to end) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYNTH := datasets/synthetic
BENCH_BACKBONES := pixels,timm:resnet18,timm:vit_tiny_patch16_224
BENCH_TASKS := celeba

.PHONY: venv bench test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

bench: $(STAMP)
	$(PY) -m farl_bench datasets synth --out $(SYNTH) --scale medium --seed 0
	$(PY) -m farl_bench run --backbone $(BENCH_BACKBONES) --tasks $(BENCH_TASKS) --protocol linear \
		--data-root $(SYNTH) --results results --set input_size=112

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(SYNTH) results/runs.jsonl results/*.csv
