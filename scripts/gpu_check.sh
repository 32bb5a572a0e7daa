#!/usr/bin/env bash
# The GPU check: one command on a machine with a CUDA GPU and this project's
# torch (2.11, CUDA 13). Under 8 minutes on an H100/H200:
#   1. builds (cmake + ninja against the python's torch), or, with
#      --prebuilt DIR, takes binaries that scripts/gpu_bundle.sh built
#      elsewhere against the same torch wheel (for a GPU machine without the
#      project's Debian packages);
#   2. tests with R1_TEST_DEVICE=cuda: GPU against CPU (tests/backend_test.cc),
#      transformers' logits on the GPU (tests/python/test_cuda_parity.py), and
#      r1 rl, sft, generate and eval end to end with device cuda, and two
#      data-parallel ranks of r1 rl against one (NCCL on two GPUs, Gloo on one);
#   3. benchmarks: copy bandwidth, decode tokens/s of a Qwen2.5-0.5B-shaped
#      model in bf16 at batch 1, 32, 128 and 256 against the roofline, and one
#      GRPO update on it (MFU, peak memory); then the costliest kernels of a
#      decode and of an update, under LibTorch's profiler.
# Prints what it measured as JSON lines; the numbers go to docs/benchmarks.md.
# --device cpu runs steps 1 and 2 on the CPU (a check of this script itself).
#   scripts/gpu_check.sh [--prebuilt DIR] [--build DIR] [--device cuda] [--skip-bench] [--skip-profile]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREBUILT="" BUILD="$ROOT/build-gpu" BENCH=1 PROFILE=1 DEVICE=cuda
while [ $# -gt 0 ]; do
  case "$1" in
    --prebuilt) PREBUILT=$(cd "$2" && pwd); shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --device) DEVICE=$2; shift 2 ;;
    --skip-bench) BENCH=0; shift ;;
    --skip-profile) PROFILE=0; shift ;;
    *) echo "usage: scripts/gpu_check.sh [--prebuilt DIR] [--build DIR] [--device cuda] [--skip-bench] [--skip-profile]" >&2; exit 2 ;;
  esac
done
PYTHON=${PYTHON:-python3}
section() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }
if [ "$DEVICE" != cpu ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PYTHON" -c 'import torch; assert torch.cuda.is_available(), "torch sees no GPU"'
fi
"$PYTHON" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'

section "1. build"
SITE=$("$PYTHON" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))')
if [ -n "$PREBUILT" ]; then
  # The bundle's own libraries only where this machine has none of the name.
  rm -rf /tmp/r1-bundle /tmp/r1-libs && mkdir -p /tmp/r1-bundle /tmp/r1-libs
  tar -C /tmp/r1-bundle -xJf "$PREBUILT/lib.tar.xz"
  for lib in /tmp/r1-bundle/*; do
    ldconfig -p | grep -q "$(basename "$lib") " || cp "$lib" /tmp/r1-libs/
  done
  echo "from the bundle: $(ls /tmp/r1-libs | tr '\n' ' ')"
  NVIDIA_LIBS=$(find "$SITE/nvidia" -maxdepth 3 -name lib -type d 2>/dev/null | tr '\n' ':')
  export LD_LIBRARY_PATH="$SITE/torch/lib:$NVIDIA_LIBS/tmp/r1-libs:${LD_LIBRARY_PATH:-}"
  BIN="$PREBUILT/bin"
  R1="$BIN/r1" BACKEND_TEST="$BIN/backend_test" GENERATE_BENCH="$BIN/generate_bench" LEARNER_BENCH="$BIN/learner_bench"
  PROCESS_GROUP_TEST="$BIN/process_group_test" ALLREDUCE_BENCH="$BIN/allreduce_bench"
else
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')" >/dev/null
  ninja -C "$BUILD" r1 backend_test generate_bench learner_bench process_group_test allreduce_bench
  R1="$BUILD/r1" BACKEND_TEST="$BUILD/tests/backend_test"
  GENERATE_BENCH="$BUILD/model/generate_bench" LEARNER_BENCH="$BUILD/grpo/learner_bench"
  PROCESS_GROUP_TEST="$BUILD/train/process_group_test" ALLREDUCE_BENCH="$BUILD/train/allreduce_bench"
fi

section "2. tests with R1_TEST_DEVICE=$DEVICE"
export R1_TEST_DEVICE=$DEVICE R1_BIN="$R1" R1_ROOT="$ROOT"
FAILED=0
"$BACKEND_TEST" || FAILED=1
(cd "$ROOT" && "$PYTHON" -m pytest -q -s -p no:cacheprovider tests/python/test_cuda_parity.py) || FAILED=1

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
end_to_end() {
  "$R1" data corpus --task arithmetic --n 200 --max-digits 2 --out "$WORK/corpus.jsonl"
  "$R1" model init --arch qwen2 --preset tiny --out "$WORK/model" --corpus "$WORK/corpus.jsonl" \
    --tokenizer-vocab 300 --seed 5
  cat >"$WORK/rl.json" <<EOF
{"model_name_or_path": "$WORK/model", "output_dir": "$WORK/rl", "device": "$DEVICE", "bf16": true,
 "dataset": {"task": "arithmetic", "n": 40, "max_digits": 1},
 "reward": {"rewards": [{"checker": "math", "name": "accuracy"}]},
 "num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 12, "beta": 0.02,
 "learning_rate": 5e-4, "max_steps": 4, "save_steps": 4, "logging_steps": 1, "seed": 11}
EOF
  "$R1" rl --config "$WORK/rl.json" >"$WORK/rl.log" 2>&1 || { cat "$WORK/rl.log"; return 1; }
  tail -n 1 "$WORK/rl/metrics.jsonl"
  printf '{"prompt": "1+2=", "completion": "3"}\n{"prompt": "4+4=", "completion": "8"}\n' >"$WORK/sft.jsonl"
  cat >"$WORK/sft.json" <<EOF
{"model_name_or_path": "$WORK/model", "train_file": "$WORK/sft.jsonl", "output_dir": "$WORK/sft",
 "device": "$DEVICE", "dtype": "bfloat16", "max_steps": 3, "per_device_train_batch_size": 2, "logging_steps": 1}
EOF
  "$R1" sft --config "$WORK/sft.json" >"$WORK/sft.log" 2>&1 || { cat "$WORK/sft.log"; return 1; }
  tail -n 1 "$WORK/sft/metrics.jsonl"
  printf '{"prompt": "1+1="}\n{"prompt": "7+2="}\n' >"$WORK/prompts.jsonl"
  "$R1" generate --model "$WORK/rl/model" --device "$DEVICE" --prompts "$WORK/prompts.jsonl" --num-samples 4 \
    --max-new-tokens 8 --output "$WORK/generated.jsonl" --quiet
  wc -l <"$WORK/generated.jsonl"
  "$R1" eval --model "$WORK/rl/model" --dataset arithmetic:heldout --limit 16 --max-new-tokens 12 --device "$DEVICE" \
    --out "$WORK/eval" --quiet
  cat "$WORK/eval/eval.json"
}
section "r1 rl, sft, generate, eval with device $DEVICE"
end_to_end || FAILED=1

# Data parallelism on the device: the process group's collectives on CUDA
# tensors (train/process_group_test.cc), and two ranks of r1 rl (fp32, 3
# steps, weights compared across ranks after every step) against one rank,
# then again with the optimizer state sharded (zero_stage 1, the weights'
# broadcasts on the device), which must give the same bytes.
# Two GPUs: a rank on each, over NCCL; one GPU: both ranks on it, over Gloo
# (NCCL refuses two ranks on one GPU).
two_ranks() {
  local ngpu dev port
  ngpu=$([ "$DEVICE" = cpu ] && echo 0 || "$PYTHON" -c 'import torch; print(torch.cuda.device_count())')
  dev=$DEVICE; [ "$DEVICE" = cpu ] || [ "$ngpu" -ge 2 ] || dev=cuda:0
  "$PROCESS_GROUP_TEST" --gtest_filter='ProcessGroup.TwoRanks*' || return 1
  for n in 1 2 2z; do
    cat >"$WORK/dp$n.json" <<EOF
{"model_name_or_path": "$WORK/model", "output_dir": "$WORK/dp$n", "device": "$dev", "dtype": "float32",
 "zero_stage": $([ "$n" = 2z ] && echo 1 || echo 0),
 "dataset": {"task": "arithmetic", "n": 40, "max_digits": 1},
 "reward": {"rewards": [{"checker": "math", "name": "accuracy"}]},
 "num_generations": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2,
 "max_completion_length": 12, "beta": 0.02, "learning_rate": 5e-4, "max_steps": 3, "save_steps": 100,
 "logging_steps": 1, "seed": 11, "ddp_timeout": 120, "ddp_check_weights": true}
EOF
  done
  "$R1" rl --config "$WORK/dp1.json" >"$WORK/dp1.log" 2>&1 || { cat "$WORK/dp1.log"; return 1; }
  port=$((20000 + RANDOM % 20000))
  local failed=0 n
  for n in 2 2z; do
    for r in 0 1; do
      RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
        "$R1" rl --config "$WORK/dp$n.json" >"$WORK/dp${n}_$r.log" 2>&1 &
    done
    for job in $(jobs -p); do wait "$job" || failed=1; done
    [ "$failed" = 0 ] || { cat "$WORK"/dp${n}_*.log; return 1; }
    port=$((port + 3))
  done
  grep "collectives over" "$WORK/dp2_0.log"
  cmp "$WORK/dp2/model/model.safetensors" "$WORK/dp2z/model/model.safetensors" || return 1
  echo '{"zero_stage_1_weights_equal_unsharded": true}'
  # All-reduce bandwidth on the GPU(s): NCCL with a GPU per rank, else Gloo;
  # one tensor, then the gradients' path over 64 (train/grad_buckets.h).
  for r in 0 1; do
    (RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$((port + 1)) \
       "$ALLREDUCE_BENCH" --device "$dev" --sizes-mb 16,256,1024 &&
     RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$((port + 2)) \
       "$ALLREDUCE_BENCH" --device "$dev" --sizes-mb 16,256,1024 --tensors 64 --path grads) >"$WORK/ar_$r.log" 2>&1 &
  done
  for job in $(jobs -p); do wait "$job" || failed=1; done
  [ "$failed" = 0 ] || { cat "$WORK"/ar_*.log; return 1; }
  grep '"ranks"' "$WORK/ar_0.log"
  "$PYTHON" - "$WORK/dp1/model" "$WORK/dp2/model" <<'EOF'
import json, sys
from safetensors.torch import load_file
one, two = (load_file(f"{d}/model.safetensors") for d in sys.argv[1:])
# Per tensor ||two - one|| / ||one||: ranks sum micro-batches in another order than one process.
worst = max(((two[k].double() - one[k].double()).norm() / one[k].double().norm().clamp_min(1e-30)).item() for k in one)
print(json.dumps({"data_parallel_ranks": 2, "max_relative_weight_difference": worst}))
sys.exit(0 if worst < 1e-3 else 1)
EOF
}
section "two data-parallel ranks with device $DEVICE"
two_ranks || FAILED=1
[ "$BENCH" = 1 ] && [ "$DEVICE" != cpu ] || exit "$FAILED"

section "3. benchmarks"
# Device-to-device copy, bytes read + written per second: the decode roofline's bandwidth.
GBS=$("$PYTHON" - <<'EOF'
import torch
x = torch.empty(2 << 30, dtype=torch.uint8, device="cuda"); y = torch.empty_like(x)
for _ in range(3): y.copy_(x)
start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
start.record()
for _ in range(10): y.copy_(x)
end.record(); torch.cuda.synchronize()
print(f"{2 * x.numel() * 10 / (start.elapsed_time(end) / 1e3) / 1e9:.0f}")
EOF
)
echo "{\"copy_bandwidth_gbs\": $GBS}"
"$R1" model init --arch qwen2 --preset qwen2.5-0.5b --vocab-size 151936 --out "$WORK/qwen05" --seed 1 >/dev/null
for batch in 1 32 128 256; do
  "$GENERATE_BENCH" --model "$WORK/qwen05" --device cuda --dtype bfloat16 --batch "$batch" --prompt-len 64 \
    --new-tokens 128 --repeats 2 --bandwidth-gbs "$GBS"
done
# The same without CUDA graphs: what the graphs buy.
for batch in 1 128; do
  "$GENERATE_BENCH" --model "$WORK/qwen05" --device cuda --dtype bfloat16 --batch "$batch" --prompt-len 64 \
    --new-tokens 128 --repeats 1 --bandwidth-gbs "$GBS" --cuda-graphs 0
done
# One GRPO update: 8 prompts x 8 completions of up to 1,024 tokens, bf16,
# against the H100/H200 datasheet's dense bf16 peak (989 TFLOP/s).
"$LEARNER_BENCH" --model "$WORK/qwen05" --device cuda --dtype bfloat16 --prompts 8 --g 8 --prompt-len 128 \
  --completion-len 1024 --micro-batch 8 --repeats 3 --peak-tflops 989
# Twice the rows per forward/backward: how much of the update is per-op overhead.
"$LEARNER_BENCH" --model "$WORK/qwen05" --device cuda --dtype bfloat16 --prompts 8 --g 8 --prompt-len 128 \
  --completion-len 1024 --micro-batch 16 --repeats 2 --peak-tflops 989

[ "$PROFILE" = 1 ] || exit "$FAILED"
section "where the GPU time goes (bench/kernel_profile.h)"
for batch in 1 128; do
  "$GENERATE_BENCH" --model "$WORK/qwen05" --device cuda --dtype bfloat16 --batch "$batch" --prompt-len 64 \
    --new-tokens 128 --repeats 1 --profile 25
done
"$LEARNER_BENCH" --model "$WORK/qwen05" --device cuda --dtype bfloat16 --prompts 8 --g 8 --prompt-len 128 \
  --completion-len 1024 --micro-batch 8 --repeats 1 --profile 30
exit "$FAILED"
