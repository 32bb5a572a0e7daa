#!/usr/bin/env bash
# The built-in default job (`make demo`): an R1-Zero run with nothing
# downloaded, the built-in recipe pipelines/recipes/r1-zero-tiny.json:
#   base       a tiny Qwen2-architecture model with its own BPE tokenizer,
#              pretrained briefly on generated two-digit arithmetic text
#   eval_base  held-out accuracy before RL (greedy, 200 problems)
#   rl         GRPO on train problems, R1-Zero template, correctness + format
#   eval       held-out accuracy after RL
# Every rollout lands in $RUN/rl/rollouts.db. Re-running finishes an
# interrupted run and skips finished stages; R1_DEMO_FRESH=1 starts over.
# A second argument names another built-in recipe of the same four stages:
# `make demo-moe` runs r1-zero-moe-tiny (a tiny deepseek_v3 base: MLA and
# DeepSeekMoE, GRPO with routing replay) into runs/demo-moe.
set -euo pipefail
BUILD=${1:-build}
RECIPE=${2:-r1-zero-tiny}
R1="$BUILD/r1"
DEFAULT_RUN=runs/demo
[ "$RECIPE" = r1-zero-tiny ] || DEFAULT_RUN=runs/demo-${RECIPE#r1-zero-}
DEFAULT_RUN=${DEFAULT_RUN%-tiny}
RUN=${R1_DEMO_DIR:-$DEFAULT_RUN}
[ "${R1_DEMO_FRESH:-0}" = 1 ] && rm -rf "$RUN"
start=$(date +%s)
"$R1" pipeline run "$RECIPE" --out "$RUN"

.venv/bin/python - "$RUN" "$start" <<'PY'
import json, sys, time
run, start = sys.argv[1], float(sys.argv[2])
before = json.load(open(f"{run}/eval_base/eval.json"))["pass@1"]
after = json.load(open(f"{run}/eval/eval.json"))["pass@1"]
summary = {"heldout_accuracy_before": before, "heldout_accuracy_after": after,
           "gain_points": round(100 * (after - before), 2), "minutes_this_invocation": round((time.time() - start) / 60, 2)}
json.dump(summary, open(f"{run}/demo.json", "w"), indent=1)
print(f"\nheld-out accuracy (greedy, 200 two-digit problems): {100 * before:.1f}% -> {100 * after:.1f}% "
      f"({100 * (after - before):+.1f} points); summary in {run}/demo.json")
PY
echo "rollouts: $RUN/rl/rollouts.db   try: $R1 rollouts --db $RUN/rl/rollouts.db steps"
