# Two commands for a fresh machine:  `make demo`  and  `make test`.
# VENV: where the virtual environment is built (.venv; `.ci/run` builds a fresh one elsewhere
# under CI). PYTEST_ARGS: extra pytest arguments, e.g. PYTEST_ARGS="tests/test_cli.py -x".
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
MODEL ?= urchade/gliner_small-v2.1
TEXT ?= Marie Curie won the Nobel Prize in 1903 while working at the University of Paris.
LABELS ?= person,organization,award,date
THRESHOLD ?=

.PHONY: setup demo test test-fast test-kernels lint browser

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: the CPU wheel; anything else would pull CUDA packages
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $@

setup: $(VENV)/.installed

# Zero-shot NER on example text. Offline, pass a local checkpoint folder:
#   make demo MODEL=../shared/data/models/ref_minilm  (THRESHOLD=0.3: a lower score threshold)
demo: $(VENV)/.installed
	$(PY) -m spacy_gliner predict --text "$(TEXT)" --labels "$(LABELS)" --model "$(MODEL)" $(if $(THRESHOLD),--threshold $(THRESHOLD)) --show

# Headless Chromium for the rendered-page test, installed where it can be (.ci/chromium).
browser:
	@bash .ci/chromium

# The whole suite, slow checks included (what CI runs).
test: $(VENV)/.installed browser
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Formatting and lint (ruff, line length 120: pyproject.toml); `ruff format` fixes the first.
LINTED := spacy_gliner tests benchmarks project/scripts
lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/ruff check $(LINTED)

# Everything but the slow checks.
test-fast: $(VENV)/.installed browser
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow" $(PYTEST_ARGS)

# The checks against the official library again, under other float kernels than the CPU's
# own (MKL's CPU-independent code path, ATen's plain C++ kernels): float noise that moves
# with the CPU must not change their outcome. .ci/run runs it after `make test`.
KERNELS ?= MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default
test-kernels: $(VENV)/.installed
	$(KERNELS) $(PY) -m pytest -q -p no:cacheprovider -m "parity and not slow" $(PYTEST_ARGS)

# The benchmark environment and the inference benchmark (docs/benchmarks.md). A venv of its
# own: fast-gliner pins huggingface-hub<1.0 (so it goes in without its dependencies), and the
# test venv stays exactly what setup.cfg declares. Quick check: make bench BENCH_ARGS="--per-dataset 5 --long-docs 0"
# BENCH_GLINER2_ARGS="--per-dataset 5 --long-docs 0"
BENCH_VENV ?= .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_ARGS ?= --threads 2 --per-dataset 100 --long-docs 2 --long-words 5000
# the GLiNER2 row: the native core against gliner2 2.1.0 (pinned in setup.cfg's test extra)
BENCH_GLINER2_ARGS ?= --threads 2 --per-dataset 100 --long-docs 2 --long-words 3000

$(BENCH_VENV)/.installed: setup.cfg pyproject.toml benchmarks/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	# torch first, pinned: the CPU wheel; anything else would pull CUDA packages
	$(BENCH_PY) -m pip install -q torch==2.13.0
	$(BENCH_PY) -m pip install -q -r benchmarks/requirements.txt
	$(BENCH_PY) -m pip install -q --no-deps fast-gliner==0.3.2
	touch $@

# spaCy's own `ner` on a transformer, the other side of bench_ner_conll.py and bench_fewshot.py:
# spacy-transformers pins transformers<4.53.3, so it gets a venv of its own (the scripts run
# from the project venv and call this one; elsewhere, pass --ner-python).
NER_VENV ?= .venv-ner

$(NER_VENV)/.installed: benchmarks/requirements-ner.txt
	$(PYTHON) -m venv $(NER_VENV)
	# torch first, pinned: the CPU wheel; anything else would pull CUDA packages
	$(NER_VENV)/bin/python -m pip install -q torch==2.13.0
	$(NER_VENV)/bin/python -m pip install -q -r benchmarks/requirements-ner.txt
	touch $@

.PHONY: bench-setup bench bench-ner-setup
bench-setup: $(BENCH_VENV)/.installed

bench-ner-setup: $(NER_VENV)/.installed

bench: $(BENCH_VENV)/.installed
	$(BENCH_PY) benchmarks/bench_inference.py $(BENCH_ARGS)
	$(BENCH_PY) benchmarks/bench_gliner2.py $(BENCH_GLINER2_ARGS)

# The GPU benchmark (README "GPU in one call"), in two halves. Here, with the package index:
# the wheels (for CPython 3.12 manylinux: spaCy, thinc, CuPy, the official gliner, Ray Data,
# this package; not torch or transformers) and the data, into one folder. CUPY: the CuPy for
# the CUDA machine's torch (torch.version.cuda 12.x: cupy-cuda12x; 13.x: cupy-cuda13x);
# GPU_WHEELS_ARGS="--no-ray" leaves Ray Data out. Then copy that folder and the repository to
# the CUDA machine and run `make bench-gpu` (or benchmarks/gpu.sh) there, with no network:
# one table in $(GPU_OUT)/gpu.md.
GPU_WHEELS ?= gpu-wheels
GPU_OUT ?= gpu-results
CUPY ?= cupy-cuda12x
GPU_WHEELS_ARGS ?=

.PHONY: gpu-wheels bench-gpu
gpu-wheels: $(VENV)/.installed
	$(PY) benchmarks/gpu_wheels.py $(GPU_WHEELS) --cupy "$(CUPY)" $(GPU_WHEELS_ARGS)

bench-gpu:
	bash benchmarks/gpu.sh $(GPU_WHEELS) $(GPU_OUT)
