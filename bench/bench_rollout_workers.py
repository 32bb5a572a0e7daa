"""Generation throughput on one and on two rollout worker processes.

Usage: .venv/bin/python bench/bench_rollout_workers.py [--r1 build/r1] [--preset small] [--prompts 16]
           [--samples 8] [--tokens 64] [--repeats 3]

A random qwen2 model (--preset, BPE tokenizer trained on arithmetic text) and
R1-Zero arithmetic prompts. Workers (`r1 rollout serve --threads 1`) are
pinned one per core (taskset); `r1 generate` sends the whole request to
them (split by whole prompts across two). Reported: completion tokens per
second of wall time, the best of --repeats, for 1 and 2 workers, and the
same request sampled in process with 1 thread for reference. A measuring
tool: nothing is asserted.
"""
import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw)


def start_worker(r1, model, key, cpu, log):
    with open(log, "w") as err:
        proc = subprocess.Popen(["taskset", "-c", str(cpu), r1, "rollout", "serve", "--listen", "127.0.0.1:0",
                                 "--auth-key-file", key, "--model", model, "--threads", "1"],
                                stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        sys.exit(f"the worker did not start:\n{open(log).read()}")
    return proc, line.split()[-1]


def tokens_per_second(args, model, prompts, out, extra):
    best = 0.0
    for _ in range(args.repeats):
        start = time.perf_counter()
        run([args.r1, "generate", "--model", model, "--prompts", prompts, "--output", out, "--template", "r1_zero",
             "--num-samples", args.samples, "--max-new-tokens", args.tokens, "--seed", 1, "--quiet", *extra])
        wall = time.perf_counter() - start
        with open(out) as f:
            tokens = sum(len(json.loads(line)["token_ids"]) for line in f.read().split("\n") if line)
        best = max(best, tokens / wall)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--r1", default="build/r1")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        corpus, model = os.path.join(work, "corpus.jsonl"), os.path.join(work, "model")
        run([args.r1, "data", "corpus", "--task", "arithmetic", "--n", 2000, "--out", corpus])
        run([args.r1, "model", "init", "--arch", "qwen2", "--preset", args.preset, "--corpus", corpus,
             "--tokenizer-vocab", 400, "--out", model, "--seed", 1])
        prompts = os.path.join(work, "prompts.jsonl")
        with open(prompts, "w") as f:
            for i in range(args.prompts):
                f.write(json.dumps({"prompt": f"What is {10 + 3 * i} + {20 + 7 * i}?"}) + "\n")
        key = os.path.join(work, "key")
        with open(key, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        os.chmod(key, 0o600)
        out = os.path.join(work, "out.jsonl")
        local = tokens_per_second(args, model, prompts, out, ["--threads", 1])
        workers = [start_worker(args.r1, model, key, cpu, os.path.join(work, f"w{cpu}.log")) for cpu in (0, 1)]
        try:
            auth = ["--auth-key-file", key]
            one = tokens_per_second(args, model, prompts, out, ["--rollout-worker", workers[0][1], *auth])
            two = tokens_per_second(args, model, prompts, out, ["--rollout-worker", workers[0][1],
                                                                "--rollout-worker", workers[1][1], *auth])
        finally:
            for proc, _ in workers:
                proc.kill()
                proc.wait()
    print(f"in process, 1 thread: {local:.0f} tokens/s")
    print(f"1 worker (1 thread):  {one:.0f} tokens/s")
    print(f"2 workers (1 each):   {two:.0f} tokens/s  (x{two / one:.2f})")


if __name__ == "__main__":
    main()
