"""Logit distillation in `r1 sft` against a torch recomputation.

- `r1 sft --eval-only` with a teacher reports the token-mean CE and
  KL(teacher_T || student_T) on completion tokens; both equal what
  transformers' models give (student Qwen2, teacher Llama: another family,
  one tokenizer), and distill_loss = (1 - a) CE + a T^2 KL.
- Training with distill_alpha = 1 lowers that KL.
- A teacher with another vocabulary is refused with a clear error.
"""
import json
import os

import pytest
import torch

from r1_cli import r1

ROWS = [{"prompt": f"{a}+{b}=", "completion": f"{a + b}"} for a, b in [(1, 2), (13, 29), (7, 70), (5, 5), (40, 2)]]
ALPHA, T = 0.3, 2.0
TOL = 1e-5


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("kd")
    corpus = d / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": r["prompt"] + r["completion"]}) + "\n" for r in ROWS * 4))
    for name, arch, seed, vocab in [("student", "qwen2", "3", "280"), ("teacher0", "llama", "4", "280"),
                                    ("other", "llama", "5", "290")]:
        r1("model", "init", "--arch", arch, "--preset", "tiny", "--out", str(d / name), "--corpus", str(corpus),
           "--tokenizer-vocab", vocab, "--seed", seed, "--vocab-size", vocab)
    # A teacher that has learnt the corpus, so its distribution is far from the fresh student's.
    (d / "teacher.json").write_text(json.dumps({
        "model_name_or_path": str(d / "teacher0"), "train_file": str(corpus), "output_dir": str(d / "teacher_run"),
        "learning_rate": 1e-2, "max_steps": 20, "per_device_train_batch_size": 8, "save_steps": 0}))
    teacher = json.loads(r1("sft", "--config", str(d / "teacher.json")).stdout)["model"]
    os.symlink(teacher, d / "teacher")
    assert (d / "student" / "tokenizer.json").read_text() == (d / "teacher" / "tokenizer.json").read_text()
    (d / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return d


def write_config(d, name, **overrides):
    config = {"model_name_or_path": str(d / "student"), "train_file": str(d / "rows.jsonl"),
              "output_dir": str(d / name), "teacher_model_name_or_path": str(d / "teacher"),
              "distill_alpha": ALPHA, "distill_temperature": T, "learning_rate": 1e-2,
              "per_device_train_batch_size": 5, "logging_steps": 1, "save_steps": 0, "seed": 1}
    config.update(overrides)
    path = d / f"{name}.json"
    path.write_text(json.dumps(config))
    return path


def torch_ce_kl(student_dir, teacher_dir):
    """Token-mean CE and KL(teacher_T || student_T) over completion tokens + eos."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(student_dir)
    student = AutoModelForCausalLM.from_pretrained(student_dir, dtype=torch.float32).eval()
    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir, dtype=torch.float32).eval()
    ce = kl = 0.0
    count = 0
    with torch.no_grad():
        for row in ROWS:
            prompt = tok.encode(row["prompt"], add_special_tokens=False)
            completion = tok.encode(row["completion"], add_special_tokens=False) + [tok.eos_token_id]
            ids = torch.tensor([prompt + completion])
            # Position t predicts token t + 1: the targets are the completion tokens.
            positions = torch.arange(len(prompt) - 1, ids.shape[1] - 1)
            targets = ids[0, positions + 1]
            ls = student(input_ids=ids).logits[0, positions].double()
            lt = teacher(input_ids=ids).logits[0, positions].double()
            ce += torch.nn.functional.cross_entropy(ls, targets, reduction="sum").item()
            log_ps = torch.log_softmax(ls / T, -1)
            log_pt = torch.log_softmax(lt / T, -1)
            kl += (log_pt.exp() * (log_pt - log_ps)).sum().item()
            count += len(positions)
    return ce / count, kl / count, count


def test_eval_kl_and_ce_match_torch(run_dir):
    ours = json.loads(r1("sft", "--config", str(write_config(run_dir, "eval")), "--eval-only").stdout)
    ce, kl, count = torch_ce_kl(run_dir / "student", run_dir / "teacher")
    assert ours["tokens"] == count
    assert abs(ours["loss"] - ce) < TOL, (ours, ce)
    assert abs(ours["kl"] - kl) < TOL, (ours, kl)
    assert kl > 0.05
    assert ours["distill_loss"] == pytest.approx((1 - ALPHA) * ours["loss"] + ALPHA * T * T * ours["kl"], rel=1e-12)


def test_training_on_the_kl_lowers_it(run_dir):
    cfg = write_config(run_dir, "train", distill_alpha=1.0, max_steps=15, learning_rate=3e-3)
    before = json.loads(r1("sft", "--config", str(cfg), "--eval-only").stdout)
    trained = json.loads(r1("sft", "--config", str(cfg)).stdout)
    after = json.loads(r1("sft", "--config", str(cfg), "--eval-only", "--model", trained["model"]).stdout)
    assert after["kl"] < 0.5 * before["kl"], (before, after)
    _, kl, _ = torch_ce_kl(trained["model"], run_dir / "teacher")
    assert abs(after["kl"] - kl) < TOL
    logged = [json.loads(line) for line in (run_dir / "train" / "metrics.jsonl").read_text().splitlines()]
    steps = [e for e in logged if "kl" in e]
    assert len(steps) == 15
    assert all(e["loss"] == pytest.approx(T * T * e["kl"], rel=1e-6) for e in steps)  # alpha = 1: no CE


def test_another_vocabulary_is_refused(run_dir):
    cfg = write_config(run_dir, "wide", teacher_model_name_or_path=str(run_dir / "other"))
    result = r1("sft", "--config", str(cfg), check=False)
    assert result.returncode == 1
    assert "vocab_size 290 differs from the student's 280" in result.stderr
    assert "logit distillation needs the student's vocabulary" in result.stderr
    assert not (run_dir / "wide" / "model").exists()
