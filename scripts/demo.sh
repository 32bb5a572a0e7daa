#!/usr/bin/env bash
# The built-in default job (`make demo`): runs with nothing downloaded.
# Creates a tiny Qwen2-architecture model with its own byte-level BPE
# tokenizer, then samples a group of completions per prompt with the
# R1-Zero template, as a GRPO rollout step would.
set -euo pipefail
BUILD=${1:-build}
R1="$BUILD/r1"
RUN=runs/demo
mkdir -p "$RUN"

# A small corpus of arithmetic text to train the tokenizer's merges on.
corpus="$RUN/corpus.txt"
for a in $(seq 1 40); do echo "What is $a + $((a * 7 % 13))? <think> $a plus $((a * 7 % 13)) </think> <answer> $((a + a * 7 % 13)) </answer>"; done > "$corpus"

"$R1" model init --arch qwen2 --preset tiny --corpus "$corpus" --tokenizer-vocab 400 --out "$RUN/model" --seed 1
cat > "$RUN/prompts.jsonl" <<'JSONL'
{"prompt": "Using the numbers [3, 5, 7], create an equation that equals 22."}
{"prompt": "What is 17 + 25?"}
JSONL
"$R1" generate --model "$RUN/model" --prompts "$RUN/prompts.jsonl" --template r1_zero \
  --num-samples 4 --max-new-tokens 48 --temperature 1.0 --top-p 0.95 --seed 1 --output "$RUN/samples.jsonl"
echo "demo: $(wc -l < "$RUN/samples.jsonl") completions in $RUN/samples.jsonl (an untrained model: noise)"
.venv/bin/python - "$RUN/samples.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    lp = sum(r["logprobs"]) / max(len(r["logprobs"]), 1)
    print(f"prompt {r['prompt_index']} sample {r['sample_index']}: {len(r['token_ids'])} tokens, "
          f"{r['finish_reason']}, mean logprob {lp:.2f}: {r['completion'][:60]!r}")
PY
