"""Throughput of `r1 tokenize` vs HF tokenizers on a ~5 MB multilingual corpus.

Usage: .venv/bin/python bench/bench_tokenizer.py [--r1 build/r1] [--mb 5]
Prints a markdown table (MB/s, tokens/s) for the SmolLM2 tokenizer (when
cached) and a Qwen2-style tokenizer trained here with HF. `r1 tokenize` is
timed end to end (process start, tokenizer load, JSONL parse and write); its
start-up time on an empty input is shown separately. A measuring tool, not a
test: it asserts nothing about speed, only that the ids agree.
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
from test_tokenizer_parity import make_line, qwen2_style  # noqa: E402  (the same corpus generator)

from tokenizers import Tokenizer  # noqa: E402


def build_corpus(megabytes, seed=99):
    rng = random.Random(seed)
    lines, size = [], 0
    while size < megabytes * 1e6:
        line = make_line(rng)
        lines.append(line)
        size += len(line.encode())
    return lines, size


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_r1(r1, tok_path, jsonl, out):
    """(wall s, CPU s) of one `r1 tokenize` run."""
    start, cpu = time.perf_counter(), child_cpu()
    subprocess.run([r1, "tokenize", "--tokenizer", str(tok_path), "--input", str(jsonl), "--output", str(out)],
                   check=True)
    return time.perf_counter() - start, child_cpu() - cpu


def timed(fn):
    """(result, wall s, CPU s of this process, all threads)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - start, time.process_time() - cpu


def bench(name, tok_path, lines, nbytes, r1, tmp):
    tok = Tokenizer.from_file(str(tok_path))
    jsonl = tmp / "corpus.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines))
    empty = tmp / "empty.jsonl"
    empty.write_text("")
    single, w_single, c_single = timed(lambda: [tok.encode(t, add_special_tokens=False).ids for t in lines])
    batch, w_batch, c_batch = timed(lambda: [e.ids for e in tok.encode_batch(lines, add_special_tokens=False)])
    w_r1, c_r1 = min(time_r1(r1, tok_path, jsonl, tmp / "ids.jsonl") for _ in range(2))
    w_start, c_start = time_r1(r1, tok_path, empty, tmp / "none.jsonl")
    ours = [json.loads(x)["ids"] for x in (tmp / "ids.jsonl").read_text().split("\n") if x]
    assert ours == single == batch, "ids differ"
    ntok = sum(len(x) for x in single)
    rows = [("HF encode loop (1 thread)", w_single, c_single),
            (f"HF encode_batch ({os.cpu_count()} cores)", w_batch, c_batch),
            ("r1 tokenize (1 thread, end to end)", w_r1, c_r1),
            ("r1 tokenize minus start-up", w_r1 - w_start, c_r1 - c_start)]
    print(f"\n{name}: {nbytes / 1e6:.1f} MB, {len(lines)} lines, {ntok} tokens; "
          f"r1 start-up {w_start:.2f} s wall, {c_start:.2f} s CPU; load average {os.getloadavg()[0]:.1f}")
    print("| method | wall s | CPU s | MB/s (wall) | tokens/s (wall) | wall vs HF 1 thread | CPU vs HF 1 thread |")
    print("|---|---|---|---|---|---|---|")
    for label, w, c in rows:
        print(f"| {label} | {w:.2f} | {c:.2f} | {nbytes / 1e6 / w:.2f} | {ntok / w:,.0f} | {w_single / w:.2f}x "
              f"| {c_single / c:.2f}x |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", default=str(ROOT / "build" / "r1"))
    ap.add_argument("--mb", type=float, default=5.0)
    args = ap.parse_args()
    lines, nbytes = build_corpus(args.mb)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        smollm2 = ROOT / ".cache" / "smollm2" / "tokenizer.json"
        if smollm2.exists():
            bench("SmolLM2 tokenizer", smollm2, lines, nbytes, args.r1, tmp)
        else:
            print(f"skipping SmolLM2: {smollm2} not present")
        qwen = tmp / "qwen2_style.json"
        qwen2_style(build_corpus(2.0, seed=5)[0], qwen)
        bench("Qwen2-style tokenizer (HF-trained, 3000 vocab, NFC)", qwen, lines, nbytes, args.r1, tmp)


if __name__ == "__main__":
    main()
