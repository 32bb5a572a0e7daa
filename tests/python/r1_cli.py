"""The r1 binary under test ($R1_BIN, else build/r1) and the way tests run it."""
import json
import os
import secrets
import subprocess
import tempfile
from pathlib import Path

R1 = os.environ.get("R1_BIN", "build/r1")


def r1(*args, check=True):
    """Runs `r1 ARGS...` (arguments converted to str) and returns the CompletedProcess;
    with check, a non-zero exit fails the test and shows r1's stderr."""
    result = subprocess.run([R1, *map(str, args)], capture_output=True, text=True)
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
