"""Writes tests/data/math_completions.jsonl: completions that SmolLM2-135M-Instruct
really wrote, through `r1 generate` in its own chat format, for the
differential test of our maths checker against math-verify
(tests/python/test_math_checker_completions.py). The committed file is what the
test reads; this script only says how it was made:

    .venv/bin/python scripts/make_math_completions.py --r1 build/r1 --model .cache/smollm2

Prompts: evenly spaced GSM8K test and MATH-500 problems, split round-robin over
four cells per dataset: style plain (the question alone) or boxed (the question
plus DeepSeek-R1's instruction to box the answer), decoding greedy or sampled
(temperature 0.6, top-p 0.95, the R1 evaluation setting). Each row: id,
dataset, style, decoding, gold, completion, finish_reason.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
import math_pairs  # noqa: E402

BOX_INSTRUCTION = "\nPlease reason step by step, and put your final answer within \\boxed{}."
STYLES = ("plain", "boxed")
DECODINGS = {"greedy": ["--temperature", "0"], "sampled": ["--temperature", "0.6", "--top-p", "0.95", "--seed", "1"]}


def problems(dataset, count):
    """(id, question, gold) for `count` evenly spaced problems."""
    if dataset == "gsm8k":
        rows = math_pairs.load_jsonl(math_pairs.GSM8K)
        items = [(f"gsm8k:{i}", r["question"], math_pairs.gsm8k_gold(r)) for i, r in enumerate(rows)]
    else:
        rows = math_pairs.load_jsonl(math_pairs.MATH500)
        items = [(f"math500:{r['unique_id']}", r["problem"], r["answer"]) for r in rows]
    step = max(1, len(items) // count)
    return items[::step][:count]


def generate(r1, model, prompts, decoding, max_new_tokens):
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "prompts.jsonl", Path(tmp) / "out.jsonl"
        src.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
        subprocess.run([r1, "generate", "--model", model, "--prompts", str(src), "--output", str(out),
                        "--template", "auto", "--max-new-tokens", str(max_new_tokens), *DECODINGS[decoding]],
                       check=True)
        rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda r: r["prompt_index"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", default=str(ROOT / "build" / "r1"))
    ap.add_argument("--model", default=str(ROOT / ".cache" / "smollm2"))
    ap.add_argument("--per-cell", type=int, default=80, help="problems per dataset, style and decoding")
    ap.add_argument("--max-new-tokens", type=int, default=320)
    ap.add_argument("--output", default=str(ROOT / "tests" / "data" / "math_completions.jsonl"))
    args = ap.parse_args()
    cells = [(s, d) for s in STYLES for d in DECODINGS]
    out = []
    for dataset in ("gsm8k", "math500"):
        items = problems(dataset, args.per_cell * len(cells))
        for c, (style, decoding) in enumerate(cells):
            chosen = items[c::len(cells)]
            prompts = [q + (BOX_INSTRUCTION if style == "boxed" else "") for _, q, _ in chosen]
            print(f"{dataset} {style} {decoding}: {len(prompts)} prompts", file=sys.stderr, flush=True)
            for (pid, _, gold), row in zip(chosen, generate(args.r1, args.model, prompts, decoding,
                                                            args.max_new_tokens)):
                out.append({"id": pid, "dataset": dataset, "style": style, "decoding": decoding, "gold": gold,
                            "completion": row["completion"], "finish_reason": row["finish_reason"]})
    Path(args.output).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out))
    print(f"wrote {len(out)} completions to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
