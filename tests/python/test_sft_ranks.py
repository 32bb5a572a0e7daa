"""`r1 sft` as two data-parallel ranks (c10d over Gloo on the CPU).

Rank r runs micro-batches r, r + 2, ... of each optimizer step and the
gradients are all-reduced before clipping; rank 0 writes the run folder.
With two micro-batches per step, two one-thread ranks add the same two
gradients that one one-thread process adds, so the final weights are
byte-identical: for plain SFT and for logit distillation from a teacher,
across an epoch boundary whose last, short step leaves rank 1 without a
micro-batch (it adds zeros). (A two-thread process would run that short
step's one micro-batch on two threads, whose reductions round differently.)
"""
import json
import subprocess

from safetensors.torch import load_file

from r1_cli import R1, r1
from test_distill_kd import ALPHA, run_dir, write_config  # noqa: F401 (the student/teacher fixture)
from test_rl_ranks import TORCHRUN, free_port

# 5 rows, 2 micro-batches of 1 row per step: steps of rows (0, 1), (2, 3), (4), then the next epoch.
SPLIT = dict(per_device_train_batch_size=1, gradient_accumulation_steps=2, max_steps=4, ddp_timeout=20)


def final_weights(run_dir, name):
    return (run_dir / name / "model" / "model.safetensors").read_bytes()


def two_ranks(config):
    result = subprocess.run([TORCHRUN, "--nproc-per-node", "2", "--master-port", str(free_port()), "--no-python", R1,
                             "sft", "--config", str(config)], capture_output=True, text=True, timeout=600,
                            env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_two_ranks_equal_one_process_for_sft_and_distillation(run_dir):
    for alpha in (0.0, ALPHA):
        one, two = f"sft1_{alpha}", f"sft2_{alpha}"
        r1("sft", "--config", write_config(run_dir, one, distill_alpha=alpha, **SPLIT), threads=1)
        # Distillation also compares the weights after every step (ddp_check_weights).
        check = alpha != 0.0
        result = two_ranks(write_config(run_dir, two, distill_alpha=alpha, ddp_check_weights=check, **SPLIT))
        assert final_weights(run_dir, two) == final_weights(run_dir, one), alpha
        assert result.stderr.count("saved final model") == 1  # rank 0 reports and writes
        logged = [json.loads(line) for line in (run_dir / two / "metrics.jsonl").read_text().splitlines()]
        assert [m["step"] for m in logged if "loss" in m] == [1, 2, 3, 4]
        # Each rank all-reduces its fp32 gradients (4 bytes per parameter) and
        # the loss sums every step; SFT gathers nothing but, with
        # ddp_check_weights, the weights' digest.
        parameters = sum(t.numel() for t in load_file(str(run_dir / two / "model" / "model.safetensors")).values())
        for m in (m for m in logged if "loss" in m):
            assert 4 * parameters / 1e6 <= m["ddp/all_reduce_mb"] < 4 * parameters / 1e6 + 0.01, m
            assert (m["ddp/all_gather_mb"] > 0) == check, m
            assert (check or m["ddp/all_gather_wait_s"] == 0) and m["ddp/all_reduce_wait_s"] > 0, m


def test_gradient_checkpointing_gives_the_same_weights(run_dir):
    """Recomputing each layer in the backward changes memory and time, not the result."""
    for alpha in (0.0, ALPHA):
        for checkpointing in (False, True):
            r1("sft", "--config", write_config(run_dir, f"ck{checkpointing}_{alpha}", distill_alpha=alpha,
                                               gradient_checkpointing=checkpointing, **SPLIT), threads=1)
        assert final_weights(run_dir, f"ckTrue_{alpha}") == final_weights(run_dir, f"ckFalse_{alpha}"), alpha


def test_zero_stage_1_gives_the_same_weights(run_dir):
    """The optimizer state sharded over the ranks (each steps and broadcasts
    its share): the weights of the unsharded run, and the checkpoint's
    optimizer state whole."""
    settings = dict(SPLIT, save_steps=2)
    r1("sft", "--config", write_config(run_dir, "zero1", **settings), threads=1)
    two_ranks(write_config(run_dir, "zero2", zero_stage=1, **settings))
    assert final_weights(run_dir, "zero2") == final_weights(run_dir, "zero1")
    ours = load_file(str(run_dir / "zero2" / "checkpoint-2" / "optimizer.safetensors"))
    ref = load_file(str(run_dir / "zero1" / "checkpoint-2" / "optimizer.safetensors"))
    assert sorted(ours) == sorted(ref) and all(ours[k].equal(ref[k]) for k in ref)
    # Every step broadcasts the weights once (fp32 here: 4 bytes per
    # parameter). The checkpoint after step 2 also sends rank 1's share of the
    # state to rank 0, point to point; it counts in step 3's metrics (a step's
    # metrics are logged before its checkpoint is written): rank 1's share of
    # the state, its two moments of about half the parameters.
    parameters = sum(t.numel() for t in load_file(str(run_dir / "zero2" / "model" / "model.safetensors")).values())
    state_mb = sum(t.numel() for t in ours.values() if t.dim() > 0) * 4 / 1e6
    logged = [json.loads(line) for line in (run_dir / "zero2" / "metrics.jsonl").read_text().splitlines()]
    weights_mb = 4 * parameters / 1e6
    for m in (m for m in logged if "loss" in m):
        assert weights_mb <= m["ddp/broadcast_mb"] < weights_mb + 0.01, m
        if m["step"] == 3:
            assert 0.2 * state_mb < m["ddp/gather_mb"] < 0.8 * state_mb, (m, state_mb)
        else:
            assert m["ddp/gather_mb"] == 0, m
