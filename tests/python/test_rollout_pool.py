"""Several `r1 rollout serve` processes as one pool (rollout/rollout_worker_pool.h).

`r1 generate` with two --rollout-worker addresses splits the prompts across
both and writes what sampling in its own process writes. A worker killed
with SIGKILL, or stopped with SIGSTOP so that it never answers, is dropped
(the log names its address) and its prompts are sampled by the other with
the same result; with no worker left the command fails naming each.

"The same" is bit for bit: the same rows, token ids, text, finish reasons
and log-probs. The pool cuts a request into contiguous runs of whole prompts,
as `generate` cuts it into decode streams, so two one-thread workers decode
exactly the batches that one two-thread process decodes in its two streams.
(With other splits the tokens stay the same and log-probs agree to fp32
rounding: a batch's matrix products may sum in another order, the
batching-invariance contract of rollout_worker_test.)
"""
import json
import os
import signal
import subprocess
import time

import pytest

from r1_cli import R1, r1, start_rollout_worker, write_jsonl
from test_one_path import from_eval, from_generate, from_sample
from test_rollout_serve import SAMPLING, generate, setup  # noqa: F401 (the model, prompts and key fixture)


def assert_same_samples(got_path, want_path):
    # Lines are split at "\n" only: completions may hold U+2028 or U+0085, which splitlines() breaks at.
    got = [json.loads(line) for line in got_path.read_text().split("\n") if line]
    want = [json.loads(line) for line in want_path.read_text().split("\n") if line]
    assert len(got) == len(want) > 0
    assert got == want


@pytest.fixture
def workers(setup):
    started = [start_rollout_worker(setup["model"], setup["key"], setup["dir"] / f"pool{i}.log", "--threads", 1)
               for i in range(2)]
    yield started
    for proc, _ in started:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait(timeout=60)


def pooled(setup, out, addresses, *extra, check=True):
    """`r1 generate` through the pool, with the pool's log on stderr (no --quiet)."""
    flags = [x for a in addresses for x in ("--rollout-worker", a)]
    sampling = [x for x in SAMPLING if x != "--quiet"]
    return r1("generate", "--model", setup["model"], "--prompts", setup["prompts"], "--output", out, *sampling, *flags,
              "--auth-key-file", setup["key"], *extra, check=check)


def test_two_workers_sample_what_one_process_samples(setup, workers, tmp_path):
    local, far = tmp_path / "local.jsonl", tmp_path / "pool.jsonl"
    generate(setup, local, "--threads", 2)
    pooled(setup, far, [a for _, a in workers])
    assert_same_samples(far, local)
    for proc, _ in workers:  # both took a share of the prompts
        assert proc.poll() is None


def test_a_killed_worker_hands_its_prompts_to_the_other(setup, workers, tmp_path):
    local, far = tmp_path / "local.jsonl", tmp_path / "pool.jsonl"
    generate(setup, local, "--threads", 2)
    (dead, dead_address), (_, live_address) = workers
    dead.kill()
    dead.wait(timeout=60)
    result = pooled(setup, far, [dead_address, live_address])
    assert f"dropped a rollout worker: rollout worker {dead_address}: " in result.stderr
    assert "its 2 prompts go to the 1 live workers" in result.stderr  # 5 prompts: 2 and 3
    assert_same_samples(far, local)


def test_a_worker_that_stops_answering_is_dropped_after_the_timeout(setup, workers, tmp_path):
    local, far = tmp_path / "local.jsonl", tmp_path / "pool.jsonl"
    generate(setup, local, "--threads", 2)
    (hung, hung_address), (_, live_address) = workers
    os.kill(hung.pid, signal.SIGSTOP)  # the kernel still accepts its connections; nothing answers
    result = pooled(setup, far, [hung_address, live_address], "--worker-timeout", 3)
    assert f"dropped a rollout worker: rollout worker {hung_address}: " in result.stderr
    assert_same_samples(far, local)


def test_no_worker_left_is_an_error_naming_each(setup, workers, tmp_path):
    for proc, _ in workers:
        proc.kill()
        proc.wait(timeout=60)
    addresses = [a for _, a in workers]
    result = pooled(setup, tmp_path / "none.jsonl", addresses, check=False)
    assert result.returncode != 0
    assert "no rollout worker left: " in result.stderr
    for a in addresses:
        assert a in result.stderr
    assert not (tmp_path / "none.jsonl").exists()


def test_eval_and_sample_sample_on_the_workers(setup, workers, tmp_path):
    """`rollout_workers` in the eval and sample configs: the same completions as in-process."""
    rows = [{"prompt": f"What is {a} + {b}?", "answer": str(a + b)} for a, b in [(12, 30), (45, 17), (8, 91), (66, 6)]]
    prompts = write_jsonl(tmp_path / "qa.jsonl", rows)
    keys = {"rollout_workers": [a for _, a in workers], "rollout_auth_key_file": str(setup["key"])}
    local = from_generate(setup["model"], prompts, tmp_path)
    assert from_eval(setup["model"], prompts, tmp_path, **keys) == local
    assert from_sample(setup["model"], prompts, tmp_path, **keys) == local
    for i, (proc, _) in enumerate(workers):  # both answered eval's and sample's requests
        assert proc.poll() is None
        assert (setup["dir"] / f"pool{i}.log").read_text().count("answered step 0 with") >= 3  # eval: 2 + 2, sample: 2 + 1
    # Bad keys fail before anything runs, naming the key.
    result = r1("eval", "--model", setup["model"], "--dataset", prompts, "--set",
                f"rollout_workers={json.dumps(keys['rollout_workers'])}", check=False)
    assert result.returncode != 0
    assert "field 'rollout_auth_key_file' is required with 'rollout_workers'" in result.stderr


LONG = ["--num-samples", 64, "--max-new-tokens", 400, "--seed", 3]  # a request of a few seconds


def test_heartbeats_keep_a_long_request_alive(setup, tmp_path):
    """The worker sends a heartbeat every 0.1 s while it samples, so a learner
    that drops a worker silent for 0.5 s waits through a request of seconds."""
    log = tmp_path / "heartbeat.log"
    proc, address = start_rollout_worker(setup["model"], setup["key"], log, "--heartbeat-interval", 0.1)
    try:
        r1("generate", "--model", setup["model"], "--prompts", setup["prompts"], "--output", tmp_path / "far.jsonl",
           *LONG, "--rollout-worker", address, "--auth-key-file", setup["key"], "--heartbeat-timeout", 0.5)
        r1("generate", "--model", setup["model"], "--prompts", setup["prompts"], "--output", tmp_path / "near.jsonl",
           *LONG)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    answered = [line for line in log.read_text().splitlines() if "answered step 0 with 320 samples after" in line]
    assert len(answered) == 1 and int(answered[0].split(" after ")[1].split()[0]) >= 1, log.read_text()
    assert_same_samples(tmp_path / "far.jsonl", tmp_path / "near.jsonl")


def test_a_worker_stopped_mid_request_is_dropped_within_the_heartbeat_timeout(setup, workers, tmp_path):
    """SIGSTOP a worker once it has taken the request: it sends no more
    heartbeats, and the pool drops it after the 2 s heartbeat timeout, not the
    600 s request timeout, naming it; the other worker samples its prompts."""
    (hung, hung_address), (_, live_address) = workers
    log = setup["dir"] / "pool0.log"
    before = log.read_text().count("authenticated")
    args = ["generate", "--model", setup["model"], "--prompts", setup["prompts"], "--output", tmp_path / "far.jsonl",
            *LONG, "--rollout-worker", hung_address, "--rollout-worker", live_address, "--auth-key-file",
            setup["key"], "--worker-timeout", 600, "--heartbeat-timeout", 2]
    run = subprocess.Popen([R1, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while log.read_text().count("authenticated") == before:
        assert run.poll() is None, run.stderr.read()
        assert time.time() < deadline, "the worker never took the request"
        time.sleep(0.005)
    time.sleep(0.2)  # past the welcome: the request is being sampled
    os.kill(hung.pid, signal.SIGSTOP)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert f"dropped a rollout worker: rollout worker {hung_address}: sent no heartbeat within 2 s" in stderr
    r1("generate", "--model", setup["model"], "--prompts", setup["prompts"], "--output", tmp_path / "near.jsonl",
       *LONG, "--threads", 2)
    assert_same_samples(tmp_path / "far.jsonl", tmp_path / "near.jsonl")
