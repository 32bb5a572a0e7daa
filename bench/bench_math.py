"""Answers per second of our maths checker (`r1 math-check`, timing printed by
the CLI itself, so process start and file I/O are excluded) against
math-verify (`parse` + `verify`) on the same (gold, prediction) pairs.

    .venv/bin/python bench/bench_math.py [--r1 build/r1] [--copies 10] [--mv-pairs 1000]

The pairs are the deterministic MATH-500 perturbations of
tests/python/math_pairs.py plus GSM8K answers in other forms; a last line
times whole completions (tests/data/math_completions.jsonl, SmolLM2's own
answers): extraction plus comparison, math-verify's parse of the completion
included. Prints; asserts nothing.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
import math_pairs  # noqa: E402


def build_pairs():
    pairs = [{"gold": p["gold"], "prediction": p["prediction"]} for p in math_pairs.math500_pairs()]
    for row in math_pairs.load_jsonl(math_pairs.GSM8K):
        n = math_pairs.gsm8k_gold(row)
        pairs += [{"gold": n, "prediction": f} for f in math_pairs.gsm8k_forms(n)]
    return pairs


def ours(r1, pairs, threads):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pairs.jsonl"
        path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
        out = subprocess.run([r1, "math-check", "--input", str(path), "--output", str(Path(tmp) / "out.jsonl"),
                              "--threads", str(threads)], capture_output=True, text=True, check=True)
    m = re.search(r"([\d.]+) answers/s", out.stderr)
    return float(m.group(1))


def theirs(pairs):
    from math_verify import parse, verify
    start = time.perf_counter()
    for p in pairs:
        prediction = parse(p["completion"]) if "completion" in p else parse("\\boxed{" + p["prediction"] + "}")
        verify(parse("\\boxed{" + p["gold"] + "}"), prediction)
    return len(pairs) / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", default=str(ROOT / "build" / "r1"))
    ap.add_argument("--copies", type=int, default=10, help="times the pair set is repeated for our checker")
    ap.add_argument("--mv-pairs", type=int, default=1000, help="pairs timed with math-verify (evenly spaced)")
    args = ap.parse_args()
    print(f"load average: {os.getloadavg()[0]:.1f}")
    pairs = build_pairs()
    step = max(1, len(pairs) // args.mv_pairs)
    sample = pairs[::step][: args.mv_pairs]
    print(f"pairs: {len(pairs)} distinct; ours on {len(pairs) * args.copies}, math-verify on {len(sample)}")
    mv = theirs(sample)
    print(f"math-verify: {mv:.1f} answers/s (1 process)")
    ours_sample = ours(args.r1, sample * max(1, args.copies * len(pairs) // len(sample)), 1)
    print(f"ours, same sample, 1 thread: {ours_sample:.1f} answers/s  ratio {ours_sample / mv:.0f}x")
    # The CAS path: golds with variables ("x^3+3x-6", "(a+5)(b+2)").
    symbolic = [p for p in pairs if re.search(r"[a-z]", re.sub(r"\\[a-zA-Z]+", "", p["gold"]))]
    mv_sym = theirs(symbolic)
    ours_sym = ours(args.r1, symbolic * args.copies * 10, 1)
    print(f"symbolic subset ({len(symbolic)} pairs): math-verify {mv_sym:.1f}/s, ours 1 thread {ours_sym:.1f}/s "
          f"ratio {ours_sym / mv_sym:.0f}x")
    for threads in (1, 2):
        rate = ours(args.r1, pairs * args.copies, threads)
        print(f"ours, all pairs, {threads} thread(s): {rate:.1f} answers/s  ratio {rate / mv:.0f}x")
    completions = [{"gold": r["gold"], "completion": r["completion"]}
                   for r in math_pairs.load_jsonl(ROOT / "tests" / "data" / "math_completions.jsonl")]
    mv_c = theirs(completions)
    ours_c = ours(args.r1, completions * args.copies * 10, 1)
    print(f"real completions ({len(completions)}, whole texts): math-verify {mv_c:.1f}/s, ours 1 thread {ours_c:.1f}/s "
          f"ratio {ours_c / mv_c:.0f}x")


if __name__ == "__main__":
    main()
