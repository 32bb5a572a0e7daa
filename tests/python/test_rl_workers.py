"""`r1 rl` sampling on `r1 rollout serve` workers (rollout_workers in the rl config).

At every step the learner pushes its policy to each worker (only the changed
tensors) and splits the step's prompts across them in whole groups. As each
(prompt, sample) row draws from its own random stream, the run equals the
in-process one: the same completions, rewards and advantages in
rollouts.db, and bit-identical final weights (the learner recomputes the
log-probs it trains on, so the workers' batching does not reach them).
"""
import json
import signal
import time
import sqlite3
import subprocess

import pytest

from r1_cli import R1, r1, start_rollout_worker, write_auth_key
from test_rl_cli import base, write_config  # noqa: F401 (the tiny model fixture)


@pytest.fixture
def workers(base):
    key = write_auth_key(base / "workers.key")
    started = [start_rollout_worker(base / "model", key, base / f"worker{i}.log", "--threads", 1) for i in range(2)]
    procs, addresses = [p for p, _ in started], [a for _, a in started]
    yield key, addresses, procs
    for proc in procs:
        proc.kill()
        proc.wait(timeout=60)


def wait_for_worker_line(log, text, run, what):
    """Waits (at most 120 s) until the worker's log holds `text`, while the run `run` is still going."""
    deadline = time.time() + 120
    while text not in log.read_text():
        assert run.poll() is None, run.stderr.read()
        assert time.time() < deadline, f"{what} never logged {text!r}"
        time.sleep(0.005)


def assert_same_run(run, reference):
    """The same rollouts.db rows and bit-identical final weights."""
    assert rows(run) == rows(reference)
    assert ((run / "model" / "model.safetensors").read_bytes() ==
            (reference / "model" / "model.safetensors").read_bytes())


def rows(run):
    with sqlite3.connect(run / "rollouts.db") as con:
        return con.execute("SELECT step, policy_version, group_index, sample_index, prompt_index, completion, "
                           "completion_tokens, finish_reason, total_reward, advantage FROM rollouts "
                           "ORDER BY step, group_index, sample_index").fetchall()


def test_rl_on_two_workers_equals_rl_in_process(base, workers):
    key, addresses, _ = workers
    r1("rl", "--config", str(write_config(base, "rl_local", max_steps=4, save_steps=100)))
    remote = r1("rl", "--config", str(write_config(base, "rl_workers", max_steps=4, save_steps=100,
                                                   rollout_workers=addresses, rollout_auth_key_file=str(key))))
    assert "dropped" not in remote.stderr
    local_rows, remote_rows = rows(base / "rl_local"), rows(base / "rl_workers")
    assert len(local_rows) == 4 * 8 and remote_rows == local_rows
    assert {r[1] for r in remote_rows} == {0, 1, 2, 3}  # each step sampled with the policy it trained
    local_model = (base / "rl_local" / "model" / "model.safetensors").read_bytes()
    assert (base / "rl_workers" / "model" / "model.safetensors").read_bytes() == local_model
    for i in range(2):  # both workers took part
        log = (base / f"worker{i}.log").read_text()
        assert log.count("answered step") >= 4, log



def test_a_worker_killed_mid_run_loses_nothing(base, workers):
    """SIGKILL one worker once it has answered step 2 of 8: its prompts go to
    the other, and the run ends equal to the in-process one."""
    key, addresses, procs = workers
    r1("rl", "--config", str(write_config(base, "rl_local8", max_steps=8, save_steps=100)))
    config = write_config(base, "rl_killed", max_steps=8, save_steps=100, rollout_workers=addresses,
                          rollout_auth_key_file=str(key))
    run = subprocess.Popen([R1, "rl", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    wait_for_worker_line(base / "worker0.log", "answered step 2 ", run, "worker 0")
    procs[0].send_signal(signal.SIGKILL)
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr
    assert f"dropped a rollout worker: rollout worker {addresses[0]}: " in stderr
    assert_same_run(base / "rl_killed", base / "rl_local8")


def test_async_rl_on_two_workers_equals_async_in_process(base, workers):
    """async_generation with max_staleness 1: each worker is pushed the weights
    generation g trained from and samples generation g + 1 while the learner
    trains. The workers' sampling log-probs feed the importance weights, so
    they must be bit-identical too: two one-thread workers decode the batches
    of the two-thread in-process run's two decode streams. The rows and the
    final weights equal the in-process async run's bit for bit."""
    key, addresses, _ = workers
    settings = dict(max_steps=4, save_steps=100, async_generation=True, max_staleness=1)
    r1("rl", "--config", str(write_config(base, "async_local", **settings)), threads=2)
    r1("rl", "--config", str(write_config(base, "async_workers", rollout_workers=addresses,
                                          rollout_auth_key_file=str(key), **settings)))
    local_rows, remote_rows = rows(base / "async_local"), rows(base / "async_workers")
    assert len(local_rows) == 4 * 8 and remote_rows == local_rows
    assert sorted({(r[0], r[1]) for r in remote_rows}) == [(1, 0), (2, 0), (3, 1), (4, 2)]
    assert (base / "async_workers" / "model" / "model.safetensors").read_bytes() == \
        (base / "async_local" / "model" / "model.safetensors").read_bytes()
    for run in ("async_local", "async_workers"):
        last = json.loads((base / run / "metrics.jsonl").read_text().splitlines()[-1])
        assert last["staleness/max"] == 1 and last["mismatch_kl"] >= 0


def test_a_reward_model_scores_the_same_when_workers_sample(base, workers):
    """A reward-model entry scores where the learner gathers the samples, so a run whose samples come from
    workers gets the same rewards, advantages and weights as one that samples in process."""
    key, addresses, _ = workers
    pairs = base / "pairs.jsonl"
    r1("data", "tasks", "--task", "arithmetic", "--kind", "general", "--form", "preferences", "--n", "32",
       "--max-digits", "1", "--out", pairs)
    (base / "rm.json").write_text(json.dumps({
        "model_name_or_path": str(base / "model"), "train_file": str(pairs), "output_dir": str(base / "rm"),
        "learning_rate": 1e-3, "max_steps": 3, "per_device_train_batch_size": 8, "logging_steps": 1}))
    r1("rm", "train", "--config", base / "rm.json")
    reward = {"rewards": [{"checker": "math", "name": "accuracy"},
                          {"model": str(base / "rm" / "model"), "name": "rm",
                           "params": {"normalize": "sigmoid", "chat_template": "none"}}]}
    r1("rl", "--config", str(write_config(base, "rm_local", max_steps=2, save_steps=100, reward=reward)))
    r1("rl", "--config", str(write_config(base, "rm_workers", max_steps=2, save_steps=100, reward=reward,
                                          rollout_workers=addresses, rollout_auth_key_file=str(key))))
    assert_same_run(base / "rm_workers", base / "rm_local")
    with sqlite3.connect(base / "rm_workers" / "rollouts.db") as con:
        scores = [v for (v,) in con.execute("SELECT value FROM reward_components WHERE name = 'rm'")]
    assert len(scores) == 2 * 8 and all(0 < v < 1 for v in scores)
