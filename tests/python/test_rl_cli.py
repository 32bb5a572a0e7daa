"""`r1 rl` end to end through the CLI.

- SIGKILL and resume: a run killed with SIGKILL after its first checkpoint and
  resumed with `--resume` logs the same metrics (all but timings) for every
  step as an uninterrupted run with the same seed, keeping the killed run's
  metrics.jsonl lines up to the checkpoint as they were, and its rollouts.db
  holds exactly the uninterrupted run's rollouts: none lost, none duplicated.
- Bad input is rejected before training, naming the key, file and line.
- A DeepSeekMoE policy trains with routing replay and the balancing loss, and
  logs the routing metrics.
- gradient_checkpointing (each layer recomputed in the backward) gives the
  same weights byte for byte, for a dense and an MoE policy.
"""
import json
import math
import pathlib
import signal
import sqlite3
import subprocess
import time

import pytest

from r1_cli import R1, r1


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("rl")
    corpus = d / "corpus.jsonl"
    r1("data", "corpus", "--task", "arithmetic", "--n", "200", "--max-digits", "2", "--out", str(corpus))
    r1("model", "init", "--arch", "qwen2", "--preset", "tiny", "--out", str(d / "model"), "--corpus", str(corpus),
       "--tokenizer-vocab", "300", "--seed", "5")
    return d


def write_config(d, name, **overrides):
    config = {"model_name_or_path": str(d / "model"), "output_dir": str(d / name),
              "dataset": {"task": "arithmetic", "n": 40, "max_digits": 1},
              "reward": {"rewards": [{"checker": "math", "name": "accuracy"},
                                     {"checker": "format_lenient", "name": "format", "weight": 0.5}]},
              "num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 12,
              "learning_rate": 5e-4, "lr_scheduler_type": "cosine", "warmup_steps": 1, "beta": 0.02,
              "bf16": False, "max_steps": 10, "save_steps": 3, "logging_steps": 1, "seed": 11}
    config.update(overrides)
    path = d / f"{name}.json"
    path.write_text(json.dumps(config))
    return path


def metrics(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if "time" not in k and "per_second" not in k} for r in rows]


def rollouts(db):
    with sqlite3.connect(db) as con:
        return con.execute("SELECT step, group_index, sample_index, prompt_index, completion, total_reward, advantage "
                           "FROM rollouts ORDER BY step, group_index, sample_index").fetchall()


def test_sigkill_and_resume_equals_uninterrupted_run(base):
    r1("rl", "--config", str(write_config(base, "full")))

    config = write_config(base, "killed")
    proc = subprocess.Popen([R1, "rl", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (base / "killed" / "checkpoint-3").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    time.sleep(0.05)  # let it sample and commit rollouts past the checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (base / "killed" / "model").exists(), "the run finished before it was killed"
    # The lines of the steps up to the checkpoint, as the killed run wrote them.
    lines = (base / "killed" / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    kept = b"".join(line for line in lines if line.endswith(b"\n") and json.loads(line)["step"] <= 3)

    resumed = r1("rl", "--config", str(config), "--resume")
    assert "resuming from" in resumed.stderr
    # metrics.jsonl is appended to: the earlier lines stay byte for byte, the
    # ones logged after the checkpoint are dropped and logged again.
    assert (base / "killed" / "metrics.jsonl").read_bytes().startswith(kept) and kept.count(b"\n") == 3
    assert metrics(base / "killed") == metrics(base / "full")
    assert rollouts(base / "killed" / "rollouts.db") == rollouts(base / "full" / "rollouts.db")
    assert len(rollouts(base / "full" / "rollouts.db")) == 10 * 8


def test_rollouts_cli_reads_the_run(base):
    run = base / "full"
    if not (run / "rollouts.db").exists():
        r1("rl", "--config", str(write_config(base, "full")))
    steps = r1("rollouts", "--db", str(run / "rollouts.db"), "steps").stdout
    assert "accuracy" in steps or "reward" in steps
    out = base / "step1.jsonl"
    r1("rollouts", "--db", str(run / "rollouts.db"), "export", "--step", "1", "--out", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8 and {"completion", "advantage"} <= set(rows[0])


@pytest.mark.parametrize("overrides, message", [
    ({"num_generation": 4}, "num_generation"),
    ({"dataset": {"task": "arithmetic", "n": 1}}, "fewer than one generation batch"),
    ({"loss_type": "ppo"}, "loss_type"),
    ({"model_name_or_path": "/nonexistent"}, "/nonexistent"),
    ({"routing_replay": True}, "routing_replay is set but the policy has no routed experts (not MoE)"),
    ({"router_aux_loss_coef": 0.01}, "router_aux_loss_coef is 0.01 but the policy has no routed experts"),
    ({"router_aux_loss_coef": -1}, "router_aux_loss_coef"),
    ({"teacher_model_name_or_path": "/nonexistent", "beta": 0.0}, "/nonexistent"),
])
def test_bad_config_is_rejected_before_training(base, overrides, message):
    name = "bad_" + "_".join(overrides)
    result = r1("rl", "--config", str(write_config(base, name, **overrides)), check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert not (base / name / "checkpoint-2").exists()


def test_bad_jsonl_row_names_file_and_line(base):
    rows = base / "rows.jsonl"
    rows.write_text('{"prompt": "1+1?", "answer": "2"}\n{"prompt": "2+2?"\n')
    result = r1("rl", "--config", str(write_config(base, "bad_rows", dataset=str(rows))), check=False)
    assert result.returncode == 1
    assert f"{rows}:2" in result.stderr


def test_moe_policy_with_routing_replay_logs_the_routing(base):
    corpus = base / "corpus.jsonl"
    r1("model", "init", "--arch", "deepseek_v3", "--preset", "tiny", "--out", str(base / "moe"), "--corpus",
       str(corpus), "--tokenizer-vocab", "300", "--seed", "5")
    config = write_config(base, "moe_run", model_name_or_path=str(base / "moe"), max_steps=2, save_steps=2,
                          num_iterations=2, routing_replay=True, router_aux_loss_coef=0.01)
    r1("rl", "--config", str(config))
    rows = [json.loads(line) for line in (base / "moe_run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for row in rows:
        shares = [row[f"moe/expert_load/{e}"] for e in range(8)]  # the tiny preset's 8 routed experts
        assert abs(sum(shares) - 1) < 1e-9 and row["moe/expert_load/max"] >= 1
        assert row["moe/aux_loss"] > 0
        assert 0 <= row["moe/route_mismatch"] < 1
    # The first update's policy is the sampler's: its routes are the sampler's.
    assert rows[0]["moe/route_mismatch"] == 0


@pytest.mark.parametrize("arch", ["qwen2", "deepseek_v3"])
def test_gradient_checkpointing_gives_the_same_weights(base, arch):
    model = base / "model"
    if arch != "qwen2":
        model = base / "moe_ck"
        r1("model", "init", "--arch", arch, "--preset", "tiny", "--out", str(model), "--corpus",
           str(base / "corpus.jsonl"), "--tokenizer-vocab", "300", "--seed", "6")
    weights = []
    for checkpointing in (False, True):
        name = f"ck_{arch}_{checkpointing}"
        r1("rl", "--config", str(write_config(base, name, model_name_or_path=str(model), max_steps=3, save_steps=3,
                                              num_iterations=2, gradient_checkpointing=checkpointing)))
        weights.append((base / name / "model" / "model.safetensors").read_bytes())
    assert weights[0] == weights[1]


def test_on_policy_distillation_lowers_the_reverse_kl(base):
    """teacher_model_name_or_path: the student samples, and its loss is the reverse KL to the teacher at every
    position of those samples (grpo/learner_test.cc checks loss and gradient against a direct computation). It
    falls as the student trains; beta != 0 beside a teacher is refused."""
    # The teacher: the same tokenizer, briefly trained on the task's texts, so it is far from the random student.
    sft = {"model_name_or_path": str(base / "model"), "train_file": str(base / "corpus.jsonl"),
           "output_dir": str(base / "teacher"), "learning_rate": 3e-3, "max_steps": 40, "save_steps": 0,
           "per_device_train_batch_size": 16, "completion_only_loss": False, "logging_steps": 20}
    (base / "teacher.json").write_text(json.dumps(sft))
    r1("sft", "--config", base / "teacher.json", threads=2)
    teacher = str(base / "teacher" / "model")
    config = write_config(base, "opd", teacher_model_name_or_path=teacher, beta=0.0, max_steps=12, save_steps=12,
                          learning_rate=3e-3, lr_scheduler_type="constant")
    r1("rl", "--config", str(config), threads=2)
    losses = [m["loss"] for m in metrics(base / "opd") if "loss" in m]
    print(losses)
    assert len(losses) == 12 and all(math.isfinite(x) and x > 0 for x in losses)
    assert sum(losses[-3:]) < 0.7 * sum(losses[:3]), losses
    assert (base / "opd" / "model" / "model.safetensors").read_bytes() != (base / "model" / "model.safetensors").read_bytes()
    bad = write_config(base, "opd_beta", teacher_model_name_or_path=teacher, beta=0.04)
    result = r1("rl", "--config", str(bad), check=False)
    assert result.returncode == 1 and "beta" in result.stderr and "teacher_model_name_or_path" in result.stderr
