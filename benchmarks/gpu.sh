#!/usr/bin/env bash
# The GPU benchmark in one call, for a CUDA machine with Python 3.12, torch and transformers
# but no spaCy and no network. Installs the wheels that `make gpu-wheels` prepared (into a venv
# that sees the machine's torch), then runs each step under its own time limit and writes one
# markdown table, OUT/gpu.md. A failing step is a row of the table, not the end of the run;
# the exit status says whether every step passed.
#
#   benchmarks/gpu.sh [WHEELS [OUT]]        defaults: gpu-wheels, gpu-results (about 5-8 minutes)
#
# Settings (environment): PYTHON, the interpreter with torch and transformers (python3);
# GPU=0: the same steps on the CPU; SCALE=tiny: a few texts and training steps; INSTALL=0: no
# venv, no install (PYTHON already has everything); SPACY_GLINER_DATA: the data (WHEELS/data);
# SLOW=N: every time limit N times longer (a busy machine).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=$(realpath -m "${1:-gpu-wheels}")
OUT=$(realpath -m "${2:-gpu-results}")
PYTHON=${PYTHON:-python3}
export SPACY_GLINER_DATA=${SPACY_GLINER_DATA:-$WHEELS/data}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
MODEL=$SPACY_GLINER_DATA/models/ref_minilm
if [ "${SCALE:-full}" = tiny ]; then PER=2 STEPS=4 BATCHES=8 DEV=10; else PER=100 STEPS=300 BATCHES=32,128 DEV=300; fi
if [ "${GPU:-1}" = 1 ]; then DEVICE=cuda GPU_ID=0 GPUS=1 MODES=float32,bf16,fp16; else DEVICE=cpu GPU_ID=-1 GPUS=0 MODES=float32,bf16; fi
mkdir -p "$OUT"
: > "$OUT/steps.tsv"

step() {  # step NAME SECONDS COMMAND...: run it under a time limit, record how it went, go on either way
    local name=$1 limit=$(($2 * ${SLOW:-1})) start=$SECONDS rc=0
    shift 2
    echo "== $name (at most ${limit}s)"
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1 || rc=$?
    printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" "$OUT/$name.log" >> "$OUT/steps.tsv"
}

PY=$PYTHON
if [ "${INSTALL:-1}" = 1 ]; then
    PY=$PWD/.venv-gpu/bin/python
    step venv 60 "$PYTHON" -m venv --system-site-packages .venv-gpu
    step install 180 "$PY" -m pip install --no-index --find-links "$WHEELS" -r "$WHEELS/requirements.txt"
fi
step inference 180 "$PY" benchmarks/bench_gpu.py inference "$OUT" --device "$DEVICE" --modes "$MODES" --per-dataset "$PER" --batch-sizes "$BATCHES"
step corpus 60 "$PY" benchmarks/bench_gpu.py corpus "$OUT"
step train 180 "$PY" -m spacy train spacy_gliner/configs/finetune.cfg --gpu-id "$GPU_ID" --output "$OUT/train" \
    --paths.model "$MODEL" --paths.train "$OUT/corpus/train.spacy" --paths.dev "$OUT/corpus/dev.spacy" \
    --corpora.dev.limit "$DEV" --training.max_steps "$STEPS" --training.eval_frequency "$((STEPS / 2))" \
    --training.optimizer.learn_rate.warmup_steps "$((STEPS / 10))"
step texts 30 "$PY" benchmarks/bench_gpu.py texts "$OUT" --per-dataset "$PER"
step ray 150 "$PY" -m spacy_gliner predict "$OUT/texts.jsonl" --engine ray --workers 1 --gpus-per-worker "$GPUS" \
    --model "$MODEL" --labels person,organization,location,date --threshold 0.3 --output "$OUT/ray.jsonl"
"$PYTHON" benchmarks/bench_gpu.py table "$OUT"
! cut -f2 "$OUT/steps.tsv" | grep -qv '^0$'
