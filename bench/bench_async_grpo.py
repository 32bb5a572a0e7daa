"""Asynchronous against synchronous GRPO with one rollout worker: step time.

Usage: .venv/bin/python bench/bench_async_grpo.py [--r1 build/r1] [--preset small] [--steps 12]
           [--max-staleness 1] [--learner-cpu 0] [--worker-cpu 1] [--json]

A random qwen2 model (--preset, with a BPE tokenizer trained on arithmetic
text) and R1-Zero arithmetic prompts. One `r1 rollout serve` worker is
pinned to --worker-cpu with one thread; `r1 rl` (the learner: rewards,
weight pushes and updates) to --learner-cpu with one thread. The same job
runs twice: synchronously, then with async_generation and --max-staleness.
The first two steps of each are warm-up and are dropped; medians of the rest
are reported:
  sync:  step, generate (= time/generate + time/reward: sampling on the
         worker, the weight push and scoring) and update (time/update);
  async: step. The goal is async <= 1.15 x max(generate, update), against
         sync = generate + update.
A measuring tool: nothing is asserted.
"""
import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw)


def prepare(args, work):
    corpus, model, tasks = (os.path.join(work, n) for n in ("corpus.jsonl", "model", "tasks.jsonl"))
    run([args.r1, "data", "corpus", "--task", "arithmetic", "--n", 2000, "--out", corpus])
    run([args.r1, "model", "init", "--arch", "qwen2", "--preset", args.preset, "--corpus", corpus,
         "--tokenizer-vocab", 400, "--out", model, "--seed", 1])
    run([args.r1, "data", "tasks", "--task", "arithmetic", "--n", 2000, "--max-digits", 2, "--out", tasks])
    return model, tasks


def start_worker(args, model, key, log):
    with open(log, "w") as err:
        proc = subprocess.Popen(["taskset", "-c", str(args.worker_cpu), args.r1, "rollout", "serve", "--listen",
                                 "127.0.0.1:0", "--auth-key-file", key, "--model", model, "--threads", "1"],
                                stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        sys.exit(f"the worker did not start:\n{open(log).read()}")
    return proc, line.split()[-1]


def run_rl(args, model, tasks, worker, key, out_dir, async_generation):
    cfg = {"model_name_or_path": model, "output_dir": out_dir, "dataset": tasks,
           "reward": {"rewards": [{"checker": "math", "name": "accuracy"}]}, "reward_workers": 1,
           "num_generations": args.g, "per_device_train_batch_size": args.prompts * args.g,
           "max_completion_length": args.max_completion_length, "learning_rate": 1e-5, "bf16": False,
           "max_steps": args.steps, "save_steps": 100000, "logging_steps": 1, "seed": 1,
           "rollout_workers": [worker], "rollout_auth_key_file": key,
           "async_generation": async_generation, "max_staleness": args.max_staleness}
    with open(out_dir + ".json", "w") as f:
        json.dump(cfg, f)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(["taskset", "-c", str(args.learner_cpu), args.r1, "rl", "--config", out_dir + ".json"],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"r1 rl failed:\n{proc.stderr}")
    with open(os.path.join(out_dir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f][2:]
    median = lambda key: statistics.median(key(r) for r in rows)  # noqa: E731
    return {"step": median(lambda r: r["step_time"]),
            "generate": median(lambda r: r["time/generate"] + r["time/reward"]),
            "update": median(lambda r: r["time/update"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--r1", default="build/r1")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--g", type=int, default=4)
    ap.add_argument("--max-completion-length", type=int, default=32)
    ap.add_argument("--max-staleness", type=int, default=1)
    ap.add_argument("--learner-cpu", type=int, default=0)
    ap.add_argument("--worker-cpu", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        model, tasks = prepare(args, work)
        key = os.path.join(work, "worker.key")
        with open(key, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        os.chmod(key, 0o600)
        proc, address = start_worker(args, model, key, os.path.join(work, "worker.log"))
        try:
            sync = run_rl(args, model, tasks, address, key, os.path.join(work, "sync"), False)
            asyn = run_rl(args, model, tasks, address, key, os.path.join(work, "async"), True)
        finally:
            proc.kill()
            proc.wait()
    result = {"sync": sync, "async": asyn,
              "async_over_max": asyn["step"] / max(sync["generate"], sync["update"]),
              "sync_over_sum": sync["step"] / (sync["generate"] + sync["update"]),
              "speedup": sync["step"] / asyn["step"]}
    if args.json:
        print(json.dumps(result))
        return
    print(f"sync : step {sync['step']:.3f} s = generate {sync['generate']:.3f} + update {sync['update']:.3f} "
          f"(x{result['sync_over_sum']:.2f} of the sum)")
    print(f"async: step {asyn['step']:.3f} s = x{result['async_over_max']:.2f} of max(generate, update); "
          f"speedup x{result['speedup']:.2f}")


if __name__ == "__main__":
    main()
