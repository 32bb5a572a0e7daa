"""The r1 binary under test ($R1_BIN, else build/r1) and the way tests run it."""
import json
import os
import secrets
import subprocess
import tempfile
from pathlib import Path

R1 = os.environ.get("R1_BIN", "build/r1")


def r1(*args, check=True, threads=None):
    """Runs `r1 ARGS...` (arguments converted to str) and returns the CompletedProcess;
    with check, a non-zero exit fails the test and shows r1's stderr. `threads` sets
    OMP_NUM_THREADS for this run (the tests' default is 1)."""
    env = None if threads is None else {**os.environ, "OMP_NUM_THREADS": str(threads)}
    result = subprocess.run([R1, *map(str, args)], capture_output=True, text=True, env=env)
    if check:
        assert result.returncode == 0, f"r1 {' '.join(map(str, args))} failed:\n{result.stderr}"
    return result


def write_auth_key(path):
    """A fresh shared secret for rollout workers, in a file only its owner may read."""
    path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    return path


def start_rollout_worker(model, key, log, *extra):
    """Starts `r1 rollout serve` on 127.0.0.1, port 0, its stderr in `log`; returns (process, "HOST:PORT") once
    it listens."""
    with open(log, "w") as err:
        proc = subprocess.Popen([R1, "rollout", "serve", "--listen", "127.0.0.1:0", "--auth-key-file", str(key),
                                 "--model", str(model), *map(str, extra)], stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline()  # the worker prints its address once it listens
    assert line.startswith("listening on 127.0.0.1:"), f"no address; log:\n{Path(log).read_text()}"
    return proc, line.split()[-1]


def tiny_arithmetic_model(folder):
    """A random qwen2 `tiny` model in folder/model whose BPE tokenizer was trained on arithmetic prompts, so
    prompts in words tokenise to a few dozen tokens; returns the model folder."""
    corpus = folder / "corpus.jsonl"
    r1("data", "corpus", "--task", "arithmetic", "--n", 300, "--seed", 2, "--out", corpus)
    r1("model", "init", "--arch", "qwen2", "--preset", "tiny", "--out", folder / "model", "--corpus", corpus,
       "--tokenizer-vocab", 300, "--seed", 4)
    return folder / "model"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def math_check(rows, *flags):
    """Verdicts of `r1 math-check` for rows {gold, prediction | completion}, in order."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_jsonl(Path(tmp) / "pairs.jsonl", rows)
        out = r1("math-check", "--input", path, *flags)
    verdicts = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(verdicts) == len(rows)
    return verdicts


def parse_table(text):
    """Rows of the first aligned table in `text`, as dicts keyed by header. Lines end at "\n" only: a completion's
    preview may hold other characters str.splitlines breaks at (\x1c, \u2028, ...)."""
    lines = text.split("\n")
    rule_at = next(i for i, l in enumerate(lines) if l and set(l) <= {"-", " "})
    header, rule = lines[rule_at - 1], lines[rule_at]
    spans, start = [], None
    for i, ch in enumerate(rule + " "):
        if ch == "-" and start is None:
            start = i
        elif ch != "-" and start is not None:
            spans.append((start, i))
            start = None
    spans[-1] = (spans[-1][0], None)  # the last column is not padded
    names = [header[a:b].strip() for a, b in spans]
    rows = []
    for line in lines[rule_at + 1:]:
        if not line.strip():
            break
        rows.append({n: line[a:b].strip() for n, (a, b) in zip(names, spans)})
    return rows


def f4(x):
    return "nan" if x is None else f"{x:.4f}"


def tiny_rl_and_eval(folder):
    """A 4-step `r1 rl` run on 4 arithmetic prompts (each seen at two steps; dynamic sampling and masked truncation,
    so samples are discarded with their reasons) and an `r1 eval` of its final model; returns (run folder, eval
    folder). Used by the inspector's tests."""
    model = tiny_arithmetic_model(folder)
    run = folder / "run"
    config = {"model_name_or_path": str(model), "output_dir": str(run),
              "dataset": {"task": "arithmetic", "n": 4, "max_digits": 1},
              "reward": {"rewards": [{"checker": "math", "name": "accuracy"},
                                     {"checker": "format_lenient", "name": "format", "weight": 0.5}]},
              "num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 12,
              "learning_rate": 5e-4, "beta": 0.02, "bf16": False, "max_steps": 4, "save_steps": 10,
              "logging_steps": 1, "seed": 11, "dynamic_sampling": True, "max_num_gen_batches": 2,
              "mask_truncated_completions": True}
    (folder / "rl.json").write_text(json.dumps(config))
    r1("rl", "--config", folder / "rl.json")
    countdown = {"task": "countdown", "split": "heldout", "n": 3, "min_numbers": 3, "max_numbers": 3,
                 "max_number": 9, "max_target": 30}
    ev = folder / "eval"
    r1("eval", "--model", run / "model", "--out", ev, "--quiet", "--threads", 1, "--dataset", "countdown:heldout",
       "--set", "dataset=" + json.dumps(countdown), "--samples", 4, "--max-new-tokens", 16, "--batch-size", 4)
    return run, ev


class Inspector:
    """`r1 inspect PATHS...` running on 127.0.0.1 (a free port unless `listen` says otherwise); its stderr goes to
    `log`. Use as a context manager: the server is stopped (SIGTERM, then SIGKILL after 10 s) on exit."""

    def __init__(self, *paths, log, listen="0"):
        self.log = Path(log)
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen([R1, "inspect", *map(str, paths), "--listen", listen],
                                         stdout=subprocess.PIPE, stderr=err, text=True)
        line = self.proc.stdout.readline()  # printed once it listens
        assert line.startswith("listening on http://"), f"no address; log:\n{self.log.read_text()}"
        self.url = line.split()[-1].rstrip("/")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        assert self.proc.returncode in (0, -15), f"r1 inspect exited {self.proc.returncode}:\n{self.log.read_text()}"
