#!/usr/bin/env bash
# The built-in default job (`make demo`): an R1-Zero run with nothing
# downloaded. A tiny Qwen2-architecture model with its own byte-level BPE
# tokenizer is pretrained briefly on generated arithmetic text, then trained
# with GRPO on the arithmetic task under the R1-Zero template with a
# correctness + format reward. Held-out accuracy is measured before and after
# RL; every rollout lands in $RUN/rl/rollouts.db.
set -euo pipefail
BUILD=${1:-build}
R1="$(cd "$(dirname "$BUILD/r1")" && pwd)/r1"
RUN=${R1_DEMO_DIR:-runs/demo}
# One thread per process: the default two fight over this machine's two cores.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
rm -rf "$RUN"
mkdir -p "$RUN"
cd "$RUN"
start=$(date +%s)

TASK='"task": "arithmetic", "max_digits": 2, "ops": "+-"'
echo "== 1/5 pretraining corpus and base model"
"$R1" data corpus --task arithmetic --n 4000 --max-digits 2 --ops +- --out corpus.jsonl
"$R1" model init --arch qwen2 --preset tiny --corpus corpus.jsonl --tokenizer-vocab 400 --out base --seed 1

echo "== 2/5 brief pretraining (r1 sft on the task text)"
cat > pretrain.json <<EOF
{"model_name_or_path": "base", "train_file": "corpus.jsonl", "output_dir": "pretrain",
 "learning_rate": 3e-3, "lr_scheduler_type": "constant_with_warmup", "warmup_steps": 20,
 "per_device_train_batch_size": 32, "max_steps": 1500, "logging_steps": 250, "save_steps": 0,
 "max_length": 256, "seed": 1}
EOF
"$R1" sft --config pretrain.json > /dev/null

cat > eval.json <<EOF
{"dataset": {$TASK, "split": "heldout", "n": 200}, "max_new_tokens": 48}
EOF
echo "== 3/5 held-out accuracy before RL"
"$R1" eval --model pretrain/model --config eval.json --out eval-before --quiet

echo "== 4/5 GRPO with the R1-Zero template"
cat > rl.json <<EOF
{"model_name_or_path": "pretrain/model", "output_dir": "rl",
 "dataset": {$TASK, "n": 4000},
 "reward": {"rewards": [{"checker": "math", "name": "accuracy"},
                        {"checker": "format_lenient", "name": "format", "weight": 0.1, "params": {"skip_leading_space": true}}]},
 "num_generations": 16, "per_device_train_batch_size": 64, "gradient_accumulation_steps": 4,
 "max_completion_length": 48, "temperature": 1.0, "learning_rate": 3e-4,
 "lr_scheduler_type": "cosine", "warmup_steps": 5, "beta": 0.0, "loss_type": "dapo", "bf16": false,
 "max_steps": 100, "save_steps": 50, "logging_steps": 10, "seed": 1}
EOF
"$R1" rl --config rl.json > /dev/null

echo "== 5/5 held-out accuracy after RL"
"$R1" eval --model rl/model --config eval.json --out eval-after --quiet

python3 - "$start" <<'PY'
import json, sys, time
before = json.load(open("eval-before/eval.json"))["pass@1"]
after = json.load(open("eval-after/eval.json"))["pass@1"]
minutes = (time.time() - float(sys.argv[1])) / 60
summary = {"heldout_accuracy_before": before, "heldout_accuracy_after": after,
           "gain_points": 100 * (after - before), "minutes": minutes}
json.dump(summary, open("demo.json", "w"), indent=1)
print(f"\nheld-out accuracy (greedy, 200 problems): {100 * before:.1f}% -> {100 * after:.1f}% "
      f"({100 * (after - before):+.1f} points) in {minutes:.1f} min")
PY
echo "rollouts: $RUN/rl/rollouts.db   try: $R1 rollouts --db $RUN/rl/rollouts.db steps"
