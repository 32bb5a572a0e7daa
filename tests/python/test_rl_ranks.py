"""`r1 rl` as several data-parallel ranks (c10d over Gloo on the CPU).

Each rank samples a contiguous run of the step's prompts and all ranks
gather every sample; rank r runs micro-batches r, r + N, ... and the
gradients are all-reduced before clipping; rank 0 writes the run folder. So
two one-thread ranks compute what one two-thread process computes: its two
decode streams sample the same batches, its two learner streams sum the
same micro-batches in the same order. The tests check that the final
weights are byte-identical (stronger than the 1e-6 relative asked of data
parallelism) and the rollouts.db rows the same, for dapo, grpo and dr_grpo
with beta > 0 and num_iterations 2:

- launched by torchrun (the venv's, hosting the store itself);
- launched by hand (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT),
  and across two network namespaces joined by a veth pair;
- with zero_stage 1 (the optimizer state sharded), the same weights and
  the same checkpointed optimizer state, and a checkpoint resumes with
  zero_stage 0, and the other way round;
- a rank killed with SIGKILL makes the other fail within ddp_timeout,
  naming the collective and the rank whose heartbeat stopped; a two-rank run killed after a checkpoint and
  resumed equals the uninterrupted one; resuming with another world size
  is refused.
"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from r1_cli import R1, r1
from test_rl_cli import base, write_config  # noqa: F401 (the tiny model fixture)
from test_rl_workers import rows

TORCHRUN = str(Path(sys.executable).parent / "torchrun")
DP = dict(num_generations=4, per_device_train_batch_size=4, gradient_accumulation_steps=2, beta=0.02,
          num_iterations=2, max_steps=3, save_steps=100, ddp_timeout=20)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_process(base, name, **settings):
    """The reference: one process with two threads (two decode and two learner streams)."""
    r1("rl", "--config", write_config(base, name, **settings), threads=2)


def torchrun(base, name, **settings):
    config = write_config(base, name, **settings)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([TORCHRUN, "--nproc-per-node", "2", "--master-port", str(free_port()), "--no-python", R1,
                             "rl", "--config", str(config)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def rank_env(rank, addr, port):
    return {**os.environ, "OMP_NUM_THREADS": "1", "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
            "MASTER_ADDR": addr, "MASTER_PORT": str(port)}


def start_ranks(config, addr="127.0.0.1", prefixes=([], []), extra=()):
    """Two ranks started by hand; `prefixes` run each in a namespace."""
    port = free_port()
    return [subprocess.Popen([*prefixes[r], R1, "rl", "--config", str(config), *extra], env=rank_env(r, addr, port),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]


def finish(procs, timeout=600):
    outs = [p.communicate(timeout=timeout) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    return outs


def scores(run):
    """Every reward component of every rollout, and its sampling log-probs' summary."""
    with sqlite3.connect(run / "rollouts.db") as con:
        return (con.execute("SELECT r.step, r.group_index, r.sample_index, c.name, c.value FROM reward_components c "
                            "JOIN rollouts r ON r.id = c.rollout_id ORDER BY 1, 2, 3, 4").fetchall(),
                con.execute("SELECT logprob_sum, logprob_mean, logprob_min, generation_ms > 0 FROM rollouts "
                            "ORDER BY step, group_index, sample_index").fetchall())


def assert_same_weights(run, reference):
    assert (run / "model" / "model.safetensors").read_bytes() == \
        (reference / "model" / "model.safetensors").read_bytes()


@pytest.mark.parametrize("loss_type", ["dapo", "grpo", "dr_grpo"])
def test_two_ranks_under_torchrun_equal_one_process(base, loss_type):
    one_process(base, f"dp1_{loss_type}", loss_type=loss_type, **DP)
    result = torchrun(base, f"dp2_{loss_type}", loss_type=loss_type, **DP)
    assert_same_weights(base / f"dp2_{loss_type}", base / f"dp1_{loss_type}")
    assert rows(base / f"dp2_{loss_type}") == rows(base / f"dp1_{loss_type}")
    # Scored on each rank and gathered; the sampling log-probs bit for bit.
    assert scores(base / f"dp2_{loss_type}") == scores(base / f"dp1_{loss_type}")
    assert len(rows(base / f"dp2_{loss_type}")) == 2 * 8  # 3 steps of num_iterations 2: two generations
    assert result.stderr.count("saved final model") == 1  # rank 0 writes the run folder, and reports


def test_moe_policy_with_routing_replay_on_two_ranks_equals_one_process(base):
    """The routes travel with the gathered samples; the routing metrics are summed over the ranks."""
    if not (base / "moe").exists():
        r1("model", "init", "--arch", "deepseek_v3", "--preset", "tiny", "--out", str(base / "moe"), "--corpus",
           str(base / "corpus.jsonl"), "--tokenizer-vocab", "300", "--seed", "5")
    moe = dict(DP, model_name_or_path=str(base / "moe"), routing_replay=True, router_aux_loss_coef=0.01)
    one_process(base, "dp1_moe", **moe)
    torchrun(base, "dp2_moe", **moe)
    assert_same_weights(base / "dp2_moe", base / "dp1_moe")
    # With the optimizer state sharded: the experts' tensors, and the routing
    # bias that takes no gradient, spread over the ranks.
    torchrun(base, "dp2_moe_zero", zero_stage=1, **moe)
    assert_same_weights(base / "dp2_moe_zero", base / "dp1_moe")
    metrics = [(base / run / "metrics.jsonl").read_text().splitlines() for run in ("dp1_moe", "dp2_moe")]
    # The same metrics but for timings and what only ranks log: the MB each
    # step all-reduced (4 bytes per parameter: fp32 gradients, and a few
    # statistics) and all-gathered (the samples, once per generation: with
    # num_iterations 2 every other step gathers nothing).
    strip = lambda lines: [{k: v for k, v in json.loads(l).items()
                            if "time" not in k and "per_second" not in k and not k.startswith("ddp/")} for l in lines]
    assert strip(metrics[0]) == strip(metrics[1])
    assert all("moe/route_mismatch" in m for m in strip(metrics[1]))
    parameters = sum(t.numel() for t in load_file(str(base / "moe" / "model.safetensors")).values())
    for line in metrics[1]:
        m = json.loads(line)
        assert 4 * parameters / 1e6 <= m["ddp/all_reduce_mb"] < 4 * parameters / 1e6 + 0.01, m
        assert m["ddp/all_gather_mb"] > 0 if m["step"] % 2 == 1 else m["ddp/all_gather_mb"] == 0, m
        # Seconds blocked in the collectives: part of the step, never more.
        assert 0 < m["ddp/all_reduce_wait_s"] < m["step_time"], m
        assert 0 <= m["ddp/all_gather_wait_s"] < m["step_time"], m
    assert not any("ddp/all_reduce_mb" in json.loads(l) for l in metrics[0])


def test_two_ranks_by_hand_with_weight_checks_equal_one_process(base):
    one_process(base, "dp1_hand", **DP)
    finish(start_ranks(write_config(base, "dp2_hand", ddp_check_weights=True, **DP)))
    assert_same_weights(base / "dp2_hand", base / "dp1_hand")
    assert rows(base / "dp2_hand") == rows(base / "dp1_hand")


def test_a_killed_rank_stops_the_other_within_the_timeout(base):
    config = write_config(base, "dp_killed", **{**DP, "max_steps": 40, "ddp_timeout": 10})
    procs = start_ranks(config)
    deadline = time.time() + 120
    while not (base / "dp_killed" / "metrics.jsonl").exists() or \
            (base / "dp_killed" / "metrics.jsonl").read_text().count("\n") < 1:
        assert procs[0].poll() is None and procs[1].poll() is None, procs[0].stderr.read() + procs[1].stderr.read()
        assert time.time() < deadline, "no step was logged"
        time.sleep(0.01)
    procs[1].send_signal(signal.SIGKILL)
    procs[1].wait()
    start = time.time()
    _, err = procs[0].communicate(timeout=120)
    assert procs[0].returncode != 0
    assert time.time() - start < 60
    assert "rank 0 of 2: " in err and "failed (a rank died or did not answer within 10 s; " \
        "no heartbeat from rank(s) 1: died or stopped)" in err, err


def test_two_ranks_killed_and_resumed_equal_the_uninterrupted_run(base):
    settings = {**DP, "max_steps": 6, "save_steps": 2}
    finish(start_ranks(write_config(base, "dp_whole", **settings)))
    config = write_config(base, "dp_resumed", **settings)
    procs = start_ranks(config)
    deadline = time.time() + 300
    while not (base / "dp_resumed" / "checkpoint-2" / "trainer_state.json").exists():
        assert all(p.poll() is None for p in procs), procs[0].stderr.read()
        assert time.time() < deadline
        time.sleep(0.01)
    for p in procs:
        p.send_signal(signal.SIGKILL)
        p.wait()
    # Another world size is refused, naming the checkpoint and the size it needs.
    other = r1("rl", "--config", config, "--resume", check=False)
    assert other.returncode != 0
    assert "was written by a run of 2 rank(s); this run has 1: resume it with 2 rank(s)" in other.stderr
    finish(start_ranks(config, extra=["--resume"]))
    assert_same_weights(base / "dp_resumed", base / "dp_whole")
    assert rows(base / "dp_resumed") == rows(base / "dp_whole")


def test_zero_stage_1_equals_one_process_and_resumes(base):
    """ZeRO stage 1: each rank keeps half of the optimizer state, yet the
    weights and the checkpoint's optimizer state are byte for byte one
    unsharded process's; a run resumed from a checkpoint with the other
    setting reaches the same weights."""
    settings = {**DP, "max_steps": 4, "save_steps": 2}
    one_process(base, "zero_ref", **settings)
    finish(start_ranks(write_config(base, "zero_whole", zero_stage=1, **settings)))
    assert_same_weights(base / "zero_whole", base / "zero_ref")
    for step in (2, 4):
        ours = load_file(base / "zero_whole" / f"checkpoint-{step}" / "optimizer.safetensors")
        ref = load_file(base / "zero_ref" / f"checkpoint-{step}" / "optimizer.safetensors")
        assert sorted(ours) == sorted(ref)
        assert all(ours[k].equal(ref[k]) for k in ref)
    # Resumed from checkpoint-2 with the other setting (the later checkpoint
    # removed): the checkpoint holds the whole state either way.
    for before, after in ((1, 0), (0, 1)):
        name = f"zero_resumed_{before}{after}"
        finish(start_ranks(write_config(base, name, zero_stage=before, **settings)))
        shutil.rmtree(base / name / "checkpoint-4")
        outs = finish(start_ranks(write_config(base, name, zero_stage=after, **settings), extra=["--resume"]))
        assert f"resuming from {base / name / 'checkpoint-2'}" in outs[0][1], outs[0][1]
        assert_same_weights(base / name, base / "zero_ref")
    bad = write_config(base, "zero_bad", zero_stage=2, **settings)
    result = r1("rl", "--config", bad, check=False)
    assert result.returncode != 0
    assert "field 'zero_stage' must be 0 or 1 (stages 2 and 3, sharded gradients and weights, are not built), " \
        "got 2" in result.stderr, result.stderr


def test_commands_that_run_as_one_process_refuse_several_ranks(base):
    env = rank_env(0, "127.0.0.1", free_port())
    result = subprocess.run([R1, "sample", "--config", "/nonexistent.json"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "r1 sample runs as one process (only `r1 rl` and `r1 sft` run as several ranks so far)" in result.stderr
    config = write_config(base, "dp_async", async_generation=True, **DP)
    result = subprocess.run([R1, "rl", "--config", str(config)], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "async_generation with several ranks is not supported yet" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="network namespaces need root and iproute2")
def test_two_ranks_on_two_hosts_equal_one_process(base):
    """Rank 0 in namespace H0 (10.232.0.1), rank 1 in H1 (10.232.0.2), one
    veth pair between them and no other route: the store and Gloo go over it."""
    tag = f"{os.getpid() % 100000}"
    ns = [f"r1d0{tag}", f"r1d1{tag}"]
    try:
        for name in ns:
            subprocess.run(["ip", "netns", "add", name], check=True)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "link", "add", f"r1d{tag}a", "netns", ns[0], "type", "veth", "peer", "name",
                        f"r1d{tag}b", "netns", ns[1]], check=True)
        for i, (name, dev) in enumerate(zip(ns, (f"r1d{tag}a", f"r1d{tag}b"))):
            subprocess.run(["ip", "-n", name, "addr", "add", f"10.232.0.{i + 1}/24", "dev", dev], check=True)
            subprocess.run(["ip", "-n", name, "link", "set", dev, "up"], check=True)
        one_process(base, "dp1_hosts", **DP)
        config = write_config(base, "dp2_hosts", **DP)
        # Gloo binds the veth (GLOO_SOCKET_IFNAME), as on hosts with several interfaces.
        prefixes = [["ip", "netns", "exec", n, "env", f"GLOO_SOCKET_IFNAME={d}"]
                    for n, d in zip(ns, (f"r1d{tag}a", f"r1d{tag}b"))]
        finish(start_ranks(config, addr="10.232.0.1", prefixes=prefixes))
        assert_same_weights(base / "dp2_hosts", base / "dp1_hosts")
        assert rows(base / "dp2_hosts") == rows(base / "dp1_hosts")
    finally:
        for name in ns:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
