"""Rows per second of `r1 reward score` on GSM8K-test completions built from
the gold solutions (a third given a wrong "#### 0"), with an eight-component
spec (format, tag_count, gsm8k, math, language, repetition, overlong, cosine),
for several worker counts. Also checks that every worker count writes the
same bytes and how often gsm8k and math disagree. Prints; asserts nothing.

    .venv/bin/python bench/bench_reward.py [--r1 build/r1] [--copies 1] [--workers 1,2]
"""
import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k" / "test.jsonl"
SPEC = {"rewards": [
    {"checker": "format"}, {"checker": "tag_count"}, {"checker": "gsm8k"}, {"checker": "math"},
    {"checker": "language", "params": {"language": "en"}}, {"checker": "repetition"},
    {"checker": "overlong", "params": {"max_completion_length": 256, "overlong_buffer": 64}},
    {"checker": "cosine", "params": {"correctness": "gsm8k", "max_len": 1000}},
]}


def rows(copies):
    out = []
    for i, line in enumerate(GSM8K.read_text().splitlines() * copies):
        gold = json.loads(line)["answer"]
        work, answer = gold.split("####")[0], gold.split("####")[-1].strip()
        given = answer if i % 3 else "0"
        completion = f"<think>\n{work}\n</think>\nThe answer is \\boxed{{{given}}}. #### {given}"
        out.append({"completion": completion, "answer": gold, "num_tokens": len(completion) // 4})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", default=str(ROOT / "build" / "r1"))
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    data = rows(args.copies)
    with tempfile.TemporaryDirectory() as tmp:
        spec, path = Path(tmp) / "spec.json", Path(tmp) / "rows.jsonl"
        spec.write_text(json.dumps(SPEC))
        path.write_text("".join(json.dumps(r) + "\n" for r in data))
        outputs = {}
        for w in args.workers.split(","):
            out = Path(tmp) / f"out{w}.jsonl"
            start = time.perf_counter()
            subprocess.run([args.r1, "reward", "score", "--spec", str(spec), "--input", str(path), "--output",
                            str(out), "--workers", w], check=True, capture_output=True)
            wall = time.perf_counter() - start
            outputs[w] = out.read_bytes()
            print(f"workers={w}: {len(data)} rows in {wall:.2f} s wall = {len(data) / wall:.0f} rows/s")
        print("identical outputs across worker counts:", len(set(outputs.values())) == 1)
        lines = [json.loads(x) for x in next(iter(outputs.values())).decode().splitlines()]
        disagree = sum(1 for x in lines if x["components"]["gsm8k"] != x["components"]["math"])
        print(f"gsm8k vs math disagreements: {disagree} of {len(lines)}")


if __name__ == "__main__":
    main()
