#!/usr/bin/env bash
# `make bench`: the one entry point to the bench tools. Runs each in-process
# C++ bench once at a small size on a fresh random model and prints what it
# measured (a few minutes on 2 cores); with --references also the comparisons
# against the Python references (bench/bench_*.py, in .venv; much longer).
# Nothing is asserted. Numbers worth keeping go to docs/benchmarks.md with
# the date, machine and command.
#   bash bench/run_all.sh [BUILD] [--references]
set -euo pipefail

BUILD=build
REFERENCES=0
for arg in "$@"; do
  case "$arg" in
    --references) REFERENCES=1 ;;
    -*) echo "usage: bench/run_all.sh [BUILD] [--references]" >&2; exit 2 ;;
    *) BUILD=$arg ;;
  esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
for tool in r1 model/generate_bench grpo/learner_bench train/adamw_bench train/allreduce_bench rollout/rollout_store_bench inspect/inspect_bench \
            reward/math_bench; do
  [ -x "$BUILD/$tool" ] || { echo "bench/run_all.sh: $BUILD/$tool is missing; run make build" >&2; exit 1; }
done
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

section() { printf '\n== %s\n' "$*"; }

section "random qwen2 'small' model for the model benches"
"$BUILD/r1" model init --arch qwen2 --preset small --out "$SCRATCH/model" --seed 1

section "generation: tokens/s, fp32 then bf16 (bench/generate_bench.cc)"
for dtype in float32 bfloat16; do
  "$BUILD/model/generate_bench" --model "$SCRATCH/model" --batch 8 --prompt-len 32 --new-tokens 32 \
    --repeats 2 --dtype "$dtype"
done

section "DeepSeek-V3 shape (MLA + MoE) 'small': decode tokens/s, KV bytes per token, active parameters vs the above"
"$BUILD/r1" model init --arch deepseek_v3 --preset small --out "$SCRATCH/deepseek" --seed 1
"$BUILD/model/generate_bench" --model "$SCRATCH/deepseek" --batch 8 --prompt-len 32 --new-tokens 32 --repeats 2

section "one GRPO policy update: seconds (bench/learner_bench.cc, 4 prompts x G 4)"
"$BUILD/grpo/learner_bench" --model "$SCRATCH/model" --prompts 4 --g 4 --prompt-len 32 --completion-len 32 \
  --micro-batch 8 --repeats 3

section "AdamW: fused vs torch::optim (bench/adamw_bench.cc)"
"$BUILD/train/adamw_bench" --preset small --steps 5

section "all-reduce GB/s: two ranks over loopback (bench/allreduce_bench.cc)"
OMP_NUM_THREADS=1 "$ROOT/.venv/bin/torchrun" --nproc-per-node 2 --no-python "$BUILD/train/allreduce_bench" \
  --sizes-mb 1,16,64

section "rollout store: rows/s through the writer thread (bench/rollout_store_bench.cc)"
"$BUILD/rollout/rollout_store_bench" --db "$SCRATCH/rollouts.db" --steps 20 --groups 16 --g 8 --chars 1000

section "r1 inspect: first load and views of a run (bench/inspect_bench.cc; docs/benchmarks.md has 1M rollouts)"
"$BUILD/inspect/inspect_bench" --dir "$SCRATCH/inspect_run" --rollouts 20000

section "maths checker: answers/s on 1, 2 threads (bench/math_bench.cc)"
for i in $(seq 200); do
  printf '%s\n' '{"gold": "1/2", "prediction": "0.5"}' '{"gold": "\\frac{3}{4}", "prediction": "0.75"}' \
    '{"gold": "x^2+2x+1", "prediction": "(x+1)^2"}' '{"gold": "12", "prediction": "13"}'
done > "$SCRATCH/pairs.jsonl"
"$BUILD/reward/math_bench" "$SCRATCH/pairs.jsonl" 1 2

section "rollout worker in its own process: handshake and request overheads (bench/bench_rollout_serve.py)"
"$ROOT/.venv/bin/python" "$ROOT/bench/bench_rollout_serve.py" --r1 "$BUILD/r1" --repeats 3 --handshakes 100

section "weight sync to a rollout worker: full and delta pushes (bench/bench_weight_sync.py)"
"$ROOT/.venv/bin/python" "$ROOT/bench/bench_weight_sync.py" --r1 "$BUILD/r1" --preset small --bucket-mib 1

if [ "$REFERENCES" = 1 ]; then
  PY="$ROOT/.venv/bin/python"
  section "against the references (transformers, TRL, tokenizers, math-verify)"
  "$PY" "$ROOT/bench/bench_generate.py" --r1 "$BUILD/r1" --bench "$BUILD/model/generate_bench" --new-tokens 32
  "$PY" "$ROOT/bench/bench_grpo.py" --r1 "$BUILD/r1" --steps 3 --betas 0
  "$PY" "$ROOT/bench/bench_tokenizer.py" --r1 "$BUILD/r1" --mb 1
  "$PY" "$ROOT/bench/bench_reward.py" --r1 "$BUILD/r1"
  "$PY" "$ROOT/bench/bench_math.py" --r1 "$BUILD/r1" --copies 1 --mv-pairs 200
  "$PY" "$ROOT/bench/bench_code.py" --r1 "$BUILD/r1" --workers 1,2
fi
