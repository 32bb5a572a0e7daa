"""One GRPO step (generate + reward + update), ours (`r1 rl`) vs TRL's
`GRPOTrainer`, on the same tiny random Qwen2, prompts, G, lengths and thread
count, one after the other on this machine.

Usage: bench_grpo.py [--r1 build/r1] [--steps 5] [--threads 2] [--betas 0,0.04]
                     [--micro-batch 8] [--repeats 1] [--max-foreign 1.0]
                     [--sides ours,trl] [--json] [--keep DIR]

Both sides: the R1-Zero prompt text of `r1 data tasks --task arithmetic
--max-digits 2` problems, G completions for each of P prompts per optimizer
step (P*G = micro-batch x gradient accumulation), sampling at temperature 1,
top_p 1, max_completion_length tokens, loss dapo, one iteration, fp32, no
gradient checkpointing, the same learning rate and seed. Rewards: ours is the
`math` checker (C++); TRL's is the Python function `accuracy_reward` below
(last <answer>..</answer>, else the last number, compared as numbers with the
gold answer): different code doing the same work.

Per step, ours comes from <output_dir>/metrics.jsonl (`step_time`,
`time/generate`, `time/reward`, `time/ref_logprobs`, and `time/update` minus
`time/ref_logprobs` as the update); its CPU seconds are read from
/proc/<pid>/stat each time a metrics line appears. TRL's phases are timed by
wrapping the trainer's own methods (the originals run unchanged):
`_generate` (tokenize, model.generate, decode), `_calculate_rewards`,
`_get_per_token_logps_and_entropies` (split into no-grad calls: the reference
model when beta != 0, and grad calls: the policy forward of the loss),
`accelerator.backward`, `_clip_grad_norm` and the optimizer step (callbacks
on_pre_optimizer_step / on_optimizer_step). A step is the time between two
on_step_end callbacks (the first from on_train_begin). The first step of each
run is a warm-up and is dropped; medians over the rest (pooled over
--repeats runs, which alternate sides) are reported.

The machine is shared: for every step the script also records how busy the
cores were with other processes (/proc/stat minus our own CPU time), and
--max-foreign 0.1 keeps only steps during which others used at most 10% of
the cores. With two threads on two cores, a competing process stalls the
thread pool at every barrier and a step can take 10x longer.
Nothing here asserts a timing.
"""
import argparse
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

# R1-Zero template, as model/chat_template.cc renders it (checked below against
# the prompt texts our run stores in rollouts.db).
R1_ZERO_PREFIX = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
    "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: ")
R1_ZERO_SUFFIX = ". Assistant:"

ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")


def accuracy_reward(completions, answer, **kwargs):
    """1.0 when the completion's answer equals the gold number, else 0.0."""
    scores = []
    for text, gold in zip(completions, answer):
        tagged = ANSWER_RE.findall(text)
        numbers = NUMBER_RE.findall(tagged[-1] if tagged else text)
        ok = False
        if numbers:
            got, want = float(numbers[-1]), float(gold)
            ok = abs(got - want) <= 1e-6 * max(1.0, abs(want))
        scores.append(1.0 if ok else 0.0)
    return scores


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def prepare(args, work):
    corpus, model, tasks = (os.path.join(work, n) for n in ("corpus.jsonl", "model", "tasks.jsonl"))
    if not os.path.exists(os.path.join(model, "model.safetensors")):
        run([args.r1, "data", "corpus", "--task", "arithmetic", "--n", "2000", "--out", corpus])
        run([args.r1, "model", "init", "--arch", "qwen2", "--preset", args.preset, "--corpus", corpus,
             "--tokenizer-vocab", str(args.tokenizer_vocab), "--out", model, "--seed", "1"])
    run([args.r1, "data", "tasks", "--task", "arithmetic", "--n", str(args.n), "--max-digits", "2", "--out", tasks])
    return model, tasks


def settings(args, beta):
    ga = args.prompts * args.g // args.micro_batch
    return {"num_generations": args.g, "per_device_train_batch_size": args.micro_batch,
            "gradient_accumulation_steps": ga, "max_completion_length": args.max_completion_length,
            "temperature": 1.0, "top_p": 1.0, "top_k": 0, "beta": beta, "loss_type": "dapo", "num_iterations": 1,
            "learning_rate": args.lr, "max_steps": args.steps, "seed": args.seed, "bf16": args.bf16,
            "gradient_checkpointing": False, "logging_steps": 1}


def system_busy_seconds():
    """Non-idle CPU seconds of the whole machine since boot (all cores)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


def foreign_share(own_cpu, busy, wall):
    """Share of the machine's cores busy with other processes during a step."""
    return max(0.0, (busy - own_cpu) / (wall * os.cpu_count()))


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, all threads


def run_ours(args, model, tasks, beta, out_dir):
    cfg = dict(settings(args, beta), model_name_or_path=model, output_dir=out_dir, dataset=tasks,
               reward={"rewards": [{"checker": "math", "name": "accuracy"}]}, reward_workers=1,
               max_prompt_length=512, save_steps=100000)
    if args.ddp_bucket_cap_mb:
        cfg["ddp_bucket_cap_mb"] = args.ddp_bucket_cap_mb
    cfg_path = out_dir + ".json"
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    metrics_path = os.path.join(out_dir, "metrics.jsonl")
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, args.threads // args.ranks)))
    cmd = [args.r1, "rl", "--config", cfg_path]
    if args.ranks > 1:  # data-parallel ranks under the venv's torchrun, the threads shared between them
        torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
        cmd = [torchrun, "--nproc-per-node", str(args.ranks), "--master-port", str(29400 + os.getpid() % 1000),
               "--no-python", *cmd]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples, seen = [], 0  # (own CPU s, machine busy s, wall s) when a metrics line appears
    while proc.poll() is None:
        try:
            if os.path.exists(metrics_path):
                with open(metrics_path) as f:
                    n = sum(1 for line in f if line.endswith("\n"))
                if n > seen:
                    samples.extend([(proc_cpu_seconds(proc.pid), system_busy_seconds(), time.perf_counter())] *
                                   (n - seen))
                    seen = n
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.02)
    _, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"r1 rl failed ({proc.returncode}):\n{err}")
    with open(metrics_path) as f:
        rows = [json.loads(line) for line in f]
    # CPU seconds between consecutive metrics lines (none for the first step,
    # the dropped warm-up); a line missed by the poll leaves them out.
    # (Under torchrun the CPU seconds would be the launcher's, not the ranks': left out.)
    pairs = list(zip(samples, samples[1:])) if len(samples) == len(rows) and args.ranks == 1 else []
    db = sqlite3.connect(os.path.join(out_dir, "rollouts.db"))
    prompts = [r[0] for r in db.execute("SELECT prompt FROM prompts")]
    tokens = [r[0] for r in db.execute("SELECT SUM(completion_tokens) FROM rollouts GROUP BY step ORDER BY step")]
    db.close()
    steps = []
    for i, m in enumerate(rows):
        step = {"step": m["step_time"], "generate": m["time/generate"], "reward": m["time/reward"],
                "logprobs": m["time/ref_logprobs"], "update": m["time/update"] - m["time/ref_logprobs"],
                "completion_tokens": tokens[i],
                "mean_length": m["completions/mean_length"], "reward_mean": m["reward"]}
        step["other"] = step["step"] - step["generate"] - step["reward"] - step["logprobs"] - step["update"]
        if pairs and i > 0:
            (c0, b0, w0), (c1, b1, w1) = pairs[i - 1]
            step["cpu"], step["foreign"] = c1 - c0, foreign_share(c1 - c0, b1 - b0, w1 - w0)
        steps.append(step)
    return steps, prompts


class TRLTimer:
    """Wraps a GRPOTrainer's methods with timers; one dict of phase seconds per optimizer step."""

    def __init__(self, trainer):
        from transformers import TrainerCallback
        self.steps, self.cur = [], {}
        self.t_step = self.cpu_step = self.busy_step = self.t_opt = None
        timer = self

        def wrap(obj, name, phase_of):
            original = getattr(obj, name)

            def timed(*a, **kw):
                phase = phase_of(a, kw)
                t = time.perf_counter()
                result = original(*a, **kw)
                timer.add(phase, time.perf_counter() - t)
                if name == "_generate":
                    timer.add("completion_tokens", sum(len(ids) for ids in result[1]))
                return result
            setattr(obj, name, timed)

        import torch
        wrap(trainer, "_generate_and_score_completions", lambda a, kw: "generate_and_score")
        wrap(trainer, "_generate", lambda a, kw: "generate")
        wrap(trainer, "_calculate_rewards", lambda a, kw: "reward")
        wrap(trainer, "_get_per_token_logps_and_entropies",
             lambda a, kw: "policy_forward" if torch.is_grad_enabled() else "logprobs_nograd")
        wrap(trainer.accelerator, "backward", lambda a, kw: "backward")
        wrap(trainer, "_clip_grad_norm", lambda a, kw: "clip")

        class Callback(TrainerCallback):
            def on_train_begin(self, *a, **kw):
                timer.t_step, timer.cpu_step = time.perf_counter(), time.process_time()
                timer.busy_step = system_busy_seconds()

            def on_pre_optimizer_step(self, *a, **kw):
                timer.t_opt = time.perf_counter()

            def on_optimizer_step(self, *a, **kw):
                timer.add("optimizer", time.perf_counter() - timer.t_opt)

            def on_step_end(self, *a, **kw):
                now, cpu, busy = time.perf_counter(), time.process_time(), system_busy_seconds()
                timer.cur["step"], timer.cur["cpu"] = now - timer.t_step, cpu - timer.cpu_step
                timer.cur["foreign"] = foreign_share(cpu - timer.cpu_step, busy - timer.busy_step, now - timer.t_step)
                timer.steps.append(timer.cur)
                timer.cur, timer.t_step, timer.cpu_step, timer.busy_step = {}, now, cpu, busy

        trainer.add_callback(Callback())

    def add(self, phase, seconds):
        self.cur[phase] = self.cur.get(phase, 0.0) + seconds


def run_trl(args, model, prompts_rows, beta, out_dir):
    import torch
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(args.threads)
    ds = Dataset.from_list(prompts_rows)
    s = settings(args, beta)
    cfg = GRPOConfig(output_dir=out_dir, use_cpu=True, save_strategy="no", report_to="none",
                     disable_tqdm=True, **s)
    trainer = GRPOTrainer(model=model, reward_funcs=accuracy_reward, args=cfg, train_dataset=ds)
    trainer.remove_callback(PrinterCallback)  # per-step log dicts on stdout
    timer = TRLTimer(trainer)
    trainer.train()
    steps = []
    for i, t in enumerate(timer.steps):
        logged = next((h for h in trainer.state.log_history if h.get("step") == i + 1 and "reward" in h), {})
        nograd = t.get("logprobs_nograd", 0.0)
        step = {"step": t["step"], "cpu": t["cpu"], "foreign": t["foreign"], "generate": t.get("generate", 0.0),
                "reward": t.get("reward", 0.0), "logprobs": nograd,
                "policy_forward": t.get("policy_forward", 0.0),
                "backward": t.get("backward", 0.0),
                "optimizer": t.get("clip", 0.0) + t.get("optimizer", 0.0),
                "completion_tokens": t.get("completion_tokens", 0),
                "mean_length": logged.get("completions/mean_length", float("nan")),
                "reward_mean": logged.get("reward", float("nan"))}
        # Everything outside generate-and-score: the loss forward, backward,
        # clipping, optimizer, scheduler, zero_grad, logging.
        step["update"] = t["step"] - t.get("generate_and_score", 0.0)
        step["other"] = t["step"] - step["generate"] - step["reward"] - nograd - step["update"]
        steps.append(step)
    del trainer
    return steps


PHASES = ["step", "generate", "reward", "logprobs", "update", "policy_forward", "backward", "optimizer", "other",
          "cpu"]


def summarise(runs, max_foreign):
    kept = [s for steps in runs for s in steps[1:]]  # the first step of each run is a warm-up
    quiet = [s for s in kept if s.get("foreign", 0.0) <= max_foreign]
    if not quiet:
        print(f"warning: no step ran with other load <= {max_foreign:.0%}; using all", file=sys.stderr)
    kept = quiet or kept
    out = {k: statistics.median(s[k] for s in kept) for k in PHASES if all(k in s for s in kept)}
    out["best_step"] = min(s["step"] for s in kept)
    out["steps_used"] = len(kept)
    out["foreign"] = statistics.median(s.get("foreign", float("nan")) for s in kept)
    tokens = sum(s["completion_tokens"] for s in kept)
    out["completion_tokens_per_step"] = tokens / len(kept)
    out["mean_length"] = statistics.mean(s["mean_length"] for s in kept)
    out["tokens_per_s"] = tokens / sum(s["step"] for s in kept)
    out["ms_per_token"] = 1000 * sum(s["step"] for s in kept) / tokens
    out["generate_tokens_per_s"] = tokens / sum(s["generate"] for s in kept)
    return out


def print_table(beta, ours, trl):
    print(f"\nbeta = {beta}  (median seconds per optimizer step, steps 2..N of each run; '-' = not measured separately)")
    print(f"{'phase':<28} {'ours':>9} {'TRL':>9} {'TRL/ours':>9}")
    labels = {"step": "step (wall)", "cpu": "step (CPU s, all threads)", "generate": "generate",
              "reward": "reward", "logprobs": "ref logprobs (no grad)", "update": "update",
              "policy_forward": "  policy forward (grad)", "backward": "  backward",
              "optimizer": "  clip + optimizer", "other": "other"}
    for k in PHASES:
        if k not in ours and k not in trl:
            continue
        a, b = ours.get(k), trl.get(k)
        ratio = f"{b / a:9.2f}" if a and b and a > 1e-3 else f"{'':>9}"
        fa = f"{a:9.4f}" if a is not None else f"{'-':>9}"
        fb = f"{b:9.4f}" if b is not None else f"{'-':>9}"
        print(f"{labels[k]:<28} {fa} {fb} {ratio}")
    for k, label, fmt in [("mean_length", "mean completion length", ".1f"),
                          ("tokens_per_s", "completion tokens/s (step)", ".1f"),
                          ("generate_tokens_per_s", "completion tokens/s (gen)", ".1f"),
                          ("ms_per_token", "ms per completion token", ".2f")]:
        a, b = ours[k], trl[k]
        print(f"{label:<28} {a:9{fmt}} {b:9{fmt}} {b / a if k == 'ms_per_token' else a / b:9.2f}")
    print(f"{'steps used':<28} {ours['steps_used']:9d} {trl['steps_used']:9d}")
    print(f"{'other processes, core share':<28} {ours['foreign']:9.1%} {trl['foreign']:9.1%}")
    print(f"{'fastest step (wall)':<28} {ours['best_step']:9.4f} {trl['best_step']:9.4f} "
          f"{trl['best_step'] / ours['best_step']:9.2f}")
    print(f"speedup (TRL step / ours step): {trl['step'] / ours['step']:.2f}x wall, "
          f"{trl['ms_per_token'] / ours['ms_per_token']:.2f}x per completion token")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--r1", default="build/r1")
    ap.add_argument("--steps", type=int, default=5, help="optimizer steps per run; the first is a warm-up")
    ap.add_argument("--threads", type=int, default=2, help="torch threads on both sides (OMP_NUM_THREADS for r1)")
    ap.add_argument("--betas", default="0,0.04", help="comma-separated KL weights; --repeats runs per side each")
    ap.add_argument("--g", type=int, default=8, help="num_generations")
    ap.add_argument("--prompts", type=int, default=8, help="prompts per optimizer step")
    ap.add_argument("--micro-batch", type=int, default=8, help="per_device_train_batch_size")
    ap.add_argument("--max-completion-length", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-6)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--bf16", action="store_true",
                    help="bf16 on both sides (TRL's default): ours bf16 weights with fp32 master weights, "
                         "TRL fp32 weights under bf16 autocast")
    ap.add_argument("--preset", default="small", help="r1 model init preset (qwen2)")
    ap.add_argument("--tokenizer-vocab", type=int, default=400)
    ap.add_argument("--n", type=int, default=256, help="arithmetic problems")
    ap.add_argument("--repeats", type=int, default=1, help="runs per side and beta, alternating sides")
    ap.add_argument("--sides", default="ours,trl")
    ap.add_argument("--ranks", type=int, default=1,
                    help="ours as this many data-parallel ranks under torchrun, --threads shared between them")
    ap.add_argument("--ddp-bucket-cap-mb", type=float, default=0,
                    help="with --ranks: r1's ddp_bucket_cap_mb (0: its default); 1e6 puts all but the first 1 MB of "
                         "gradients in one bucket, which starts only when the backward ends")
    ap.add_argument("--max-foreign", type=float, default=1.0,
                    help="use only steps during which other processes kept at most this share of the cores busy")
    ap.add_argument("--json", action="store_true", help="also print the results as one JSON object")
    ap.add_argument("--keep", default="", help="work in this folder and keep it (model, runs)")
    args = ap.parse_args()
    if (args.prompts * args.g) % args.micro_batch:
        sys.exit("--prompts x --g must be a multiple of --micro-batch")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch is imported
    tmp = None if args.keep else tempfile.TemporaryDirectory()
    work = args.keep or tmp.name
    os.makedirs(work, exist_ok=True)
    model, tasks = prepare(args, work)
    with open(tasks) as f:
        rows = [json.loads(line) for line in f]
    trl_rows = [{"prompt": R1_ZERO_PREFIX + r["prompt"] + R1_ZERO_SUFFIX, "answer": r["answer"]} for r in rows]
    sides = args.sides.split(",")
    load = os.getloadavg()
    print(f"model {model} (qwen2 {args.preset}), {args.n} arithmetic prompts, G={args.g}, {args.prompts} prompts/step, "
          f"micro-batch {args.micro_batch} x GA {args.prompts * args.g // args.micro_batch}, "
          f"max_completion_length {args.max_completion_length}, {args.threads} threads, {args.steps} steps, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    common = {k: v for k, v in settings(args, 0.0).items() if k != "beta"}
    results = {"settings": common, "threads": args.threads, "load_before": load, "runs": []}
    for beta in [float(b) for b in args.betas.split(",")]:
        entry = {"beta": beta}
        for rep in range(args.repeats):  # sides alternate, so both see the same background load
            if "ours" in sides:
                out_dir = os.path.join(work, f"ours_beta{beta}_{rep}")
                subprocess.run(["rm", "-rf", out_dir, out_dir + ".json"], check=True)
                steps, ours_prompts = run_ours(args, model, tasks, beta, out_dir)
                if not set(ours_prompts) <= {r["prompt"] for r in trl_rows}:
                    sys.exit("rendered prompts differ from the ones r1 rl stored; update R1_ZERO_PREFIX/SUFFIX")
                entry.setdefault("ours", {"runs": []})["runs"].append(steps)
            if "trl" in sides:
                steps = run_trl(args, model, trl_rows, beta, os.path.join(work, f"trl_beta{beta}_{rep}"))
                entry.setdefault("trl", {"runs": []})["runs"].append(steps)
            entry.setdefault("load_after_repeat", []).append(os.getloadavg()[0])
            print(f"beta {beta} repeat {rep + 1}/{args.repeats} done, load average {os.getloadavg()[0]:.2f}",
                  file=sys.stderr)
        for side in ("ours", "trl"):
            if side in entry:
                entry[side]["median"] = summarise(entry[side]["runs"], args.max_foreign)
        if "ours" in entry and "trl" in entry:
            print_table(beta, entry["ours"]["median"], entry["trl"]["median"])
            entry["speedup"] = entry["trl"]["median"]["step"] / entry["ours"]["median"]["step"]
            entry["speedup_per_token"] = entry["trl"]["median"]["ms_per_token"] / entry["ours"]["median"]["ms_per_token"]
        else:
            for side in ("ours", "trl"):
                if side in entry:
                    print(f"beta {beta} {side}: " + json.dumps({k: round(v, 4) for k, v in entry[side]["median"].items()}))
        results["runs"].append(entry)
    results["load_after"] = os.getloadavg()
    print(f"load average after: {results['load_after'][0]:.2f}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
