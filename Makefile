# Two commands on a fresh machine: `make bench` (the synthetic suite end to end) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYNTH := datasets/synthetic
BENCH_BACKBONES := pixels,hog,timm:resnet18,timm:vit_tiny_patch16_224
BENCH_TASKS := celeba,lapa,aflw19,appa_real,rafdb

.PHONY: venv bench test perf clean smoke smoke-baseline report wheel

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

bench: $(STAMP)
	$(PY) -m farl_bench datasets synth --out $(SYNTH) --scale medium --seed 0 --only $(BENCH_TASKS)
	$(PY) -m farl_bench run --backbone $(BENCH_BACKBONES) --tasks $(BENCH_TASKS) --protocol linear \
		--data-root $(SYNTH) --results results --set input_size=112
	$(PY) -m farl_bench report --results results --out results/report

test: $(STAMP)
	$(PY) -m pytest

# Speed and memory benchmarks (benchmarks/README.md): ~10 minutes on 2 CPU cores; not part of `make test`.
perf: $(STAMP)
	$(PY) benchmarks/run.py

# The smoke suite (farl_bench/smoke.py), run afresh and gated against the committed baseline;
# exit 1 on a regression.
smoke: $(STAMP)
	rm -rf results/smoke
	$(PY) -m farl_bench smoke --results results/smoke
	$(PY) -m farl_bench compare --baseline results/baselines/synthetic-smoke.csv --candidate results/smoke \
		--markdown results/smoke/compare.md --junit results/smoke/compare.xml

# After a change that is meant to move the smoke numbers: re-run it from scratch and commit the csv.
smoke-baseline: $(STAMP)
	rm -rf results/smoke
	$(PY) -m farl_bench smoke --results results/smoke
	cp results/smoke/results.csv results/baselines/synthetic-smoke.csv

# dist/farl_bench-<version>-py3-none-any.whl, with the task specs and the smoke baseline inside; offline.
wheel: $(STAMP)
	$(PY) -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation -w dist .
	rm -rf build

report: $(STAMP)
	$(PY) -m farl_bench report --results results --out results/report

clean:
	rm -rf $(SYNTH) results/runs.jsonl results/*.csv
