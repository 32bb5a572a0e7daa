"""Parity of grpo/policy_loss.cc with TRL 1.16's GRPOTrainer._compute_loss.

A real GRPOTrainer (tiny random Qwen2, built here) computes the loss on crafted
float64 inputs: its log-prob forward is replaced by a leaf tensor we control,
so the gradient w.r.t. per_token_logps is TRL's. The same inputs go to
grpo_loss_oracle (our C++) through a safetensors file; loss, gradient and the
clip/KL metrics must agree.
"""
import os
import pathlib
import subprocess
from collections import defaultdict

import pytest
import torch
from safetensors.torch import load_file, save_file

TOL = 1e-9  # loss and gradient are float64 on both sides: any formula difference shows far above this
METRIC_TOL = 1e-6  # TRL computes the clip fractions in float32 (`.float()`)
METRICS = ["clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean", "clip_ratio/low_min",
           "clip_ratio/high_max"]


def oracle_path():
    explicit = os.environ.get("R1_GRPO_ORACLE")
    if explicit:
        return pathlib.Path(explicit)
    r1_bin = os.environ.get("R1_BIN")
    assert r1_bin, "set R1_BIN (the r1 binary in the build dir) or R1_GRPO_ORACLE"
    return pathlib.Path(r1_bin).parent / "grpo" / "grpo_loss_oracle"


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    from datasets import Dataset
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_qwen2")
    vocab = {"<pad>": 0, "<eos>": 1, **{f"w{i}": i + 2 for i in range(30)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>").save_pretrained(folder)
    config = Qwen2Config(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    args = GRPOConfig(output_dir=str(folder / "out"), per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=8, beta=0.04, report_to="none", use_cpu=True, bf16=False,
                      gradient_checkpointing=False)
    t = GRPOTrainer(model=str(folder), reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
                    args=args, train_dataset=Dataset.from_dict({"prompt": ["w1 w2", "w3 w4"]}))
    t.model.train()
    return t


def configure(t, case):
    """Sets what TRL's __init__ derives from GRPOConfig, as __init__ does it."""
    t.loss_type = case["loss_type"]
    t.beta = case["beta"]
    t.epsilon_low = case["epsilon"]
    t.epsilon_high = case["epsilon_high"]
    t.importance_sampling_level = case["importance_sampling_level"]
    t.max_completion_length = case["max_completion_length"]
    t.args.delta = case["delta"]
    t.args.use_bias_correction_kl = case["use_bias_correction_kl"]
    t.args.steps_per_generation = case["grad_accum"]
    t.current_gradient_accumulation_steps = case["grad_accum"]
    t._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}


def make_batch(seed, b=6, t=8, spread=0.4):
    g = torch.Generator().manual_seed(seed)
    d = torch.float64
    logps = -torch.rand(b, t, generator=g, dtype=d) * 3
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    lengths[2] = 0  # an empty completion (e.g. masked truncated)
    mask = (torch.arange(t)[None, :] < lengths[:, None]).long()
    return {
        "logps": logps,
        "old": logps + torch.randn(b, t, generator=g, dtype=d) * spread,  # ratios well outside [0.8, 1.28]
        "ref": logps + torch.randn(b, t, generator=g, dtype=d) * 0.3,
        "adv": torch.randn(b, generator=g, dtype=d),
        "mask": mask,
    }


def trl_loss(t, case, batch, rows):
    """TRL's loss on batch[rows] and d loss / d per_token_logps, plus its logged metrics."""
    logps = batch["logps"][rows].clone().requires_grad_(True)
    b, n = logps.shape
    t._get_per_token_logps_and_entropies = lambda *a, **k: (logps, torch.zeros_like(logps), None)
    inputs = {
        "prompt_ids": torch.ones(b, 2, dtype=torch.long),
        "prompt_mask": torch.ones(b, 2, dtype=torch.long),
        "completion_ids": torch.ones(b, n, dtype=torch.long),
        "completion_mask": batch["mask"][rows],
        "advantages": batch["adv"][rows],
        "num_items_in_batch": batch["mask"].sum(),  # the whole generation batch, as TRL computes it
    }
    if case["off_policy"]:
        inputs["old_per_token_logps"] = batch["old"][rows]
    if case["beta"] != 0.0:
        inputs["ref_per_token_logps"] = batch["ref"][rows]
    loss = t._compute_loss(t.model, inputs)
    loss.backward()
    metrics = {k: v[-1] for k, v in t._metrics["train"].items()}
    return loss.item(), logps.grad, metrics


def our_loss(tmp, case, batch, rows, num_sequences, num_tokens, num_micro_batches):
    tensors = {
        "per_token_logps": batch["logps"][rows].contiguous(),
        "advantages": batch["adv"][rows].contiguous(),
        "completion_mask": batch["mask"][rows].contiguous(),
        "num_tokens": torch.tensor(float(num_tokens), dtype=torch.float64),
    }
    if case["off_policy"]:
        tensors["old_per_token_logps"] = batch["old"][rows].contiguous()
    if case["beta"] != 0.0:
        tensors["ref_per_token_logps"] = batch["ref"][rows].contiguous()
    meta = {"mode": "loss", "loss_type": case["loss_type"], "epsilon": repr(case["epsilon"]),
            "epsilon_high": repr(case["epsilon_high"]), "beta": repr(case["beta"]),
            "importance_sampling_level": case["importance_sampling_level"],
            "use_bias_correction_kl": "1" if case["use_bias_correction_kl"] else "0",
            "max_completion_length": str(case["max_completion_length"]), "num_sequences": repr(float(num_sequences)),
            "num_micro_batches": str(num_micro_batches)}
    if case["delta"] is not None:
        meta["delta"] = repr(case["delta"])
    src, dst = tmp / "in.safetensors", tmp / "out.safetensors"
    save_file(tensors, str(src), metadata=meta)
    proc = subprocess.run([str(oracle_path()), str(src), str(dst)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = load_file(str(dst))
    return out["loss"].item(), out["grad"], {k: out[k].item() for k in out if k not in ("loss", "grad")}


def make_case(**kw):
    case = {"loss_type": "dapo", "beta": 0.0, "epsilon": 0.2, "epsilon_high": 0.2, "delta": None,
            "importance_sampling_level": "token", "use_bias_correction_kl": True, "max_completion_length": 8,
            "off_policy": True, "grad_accum": 1}
    case.update(kw)
    return case


LOSS_TYPES = ["grpo", "bnpo", "dr_grpo", "dapo"]
CASES = []
for lt in LOSS_TYPES:
    CASES += [
        make_case(loss_type=lt, off_policy=False),  # num_iterations == 1: ratio exactly 1
        make_case(loss_type=lt, beta=0.04),
        make_case(loss_type=lt, epsilon_high=0.28),
        make_case(loss_type=lt, beta=0.04, epsilon_high=0.28, use_bias_correction_kl=False),
        make_case(loss_type=lt, beta=0.001, epsilon_high=0.28, delta=1.5),
        make_case(loss_type=lt, beta=0.04, importance_sampling_level="sequence"),
    ]


def case_id(c):
    return "-".join(f"{k}={v}" for k, v in c.items() if k != "loss_type" and v != make_case()[k]) or "base"


def assert_close(ours, theirs, case):
    (l1, g1, m1), (l2, g2, m2) = ours, theirs
    assert abs(l1 - l2) <= TOL * max(1.0, abs(l2)), (case, l1, l2)
    assert torch.allclose(g1, g2, rtol=TOL, atol=TOL), (case, (g1 - g2).abs().max())
    assert g2.abs().sum() > 0
    names = METRICS + (["kl"] if case["beta"] != 0.0 else [])
    for name in names:
        a, b = m1[name], m2[name]
        assert (a != a and b != b) or abs(a - b) <= METRIC_TOL, (case, name, a, b)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{c['loss_type']}-{case_id(c)}" for c in CASES])
def test_full_batch_matches_trl(trainer, index, tmp_path):
    case = CASES[index]
    batch = make_batch(seed=index)
    configure(trainer, case)
    rows = slice(0, 6)
    theirs = trl_loss(trainer, case, batch, rows)
    ours = our_loss(tmp_path, case, batch, rows, num_sequences=6, num_tokens=batch["mask"].sum().item(),
                    num_micro_batches=1)
    assert_close(ours, theirs, case)
    if case["off_policy"] and case["epsilon_high"] == 0.2 and case["delta"] is None:
        assert theirs[2]["clip_ratio/region_mean"] > 0, "inputs should exercise clipping"


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_gradient_accumulation_matches_trl(trainer, loss_type, tmp_path):
    """TRL over 3 micro-batches of 2 (gradient_accumulation_steps=3) vs ours per micro-batch with global counts."""
    case = make_case(loss_type=loss_type, beta=0.04, epsilon_high=0.28, grad_accum=3)
    batch = make_batch(seed=11)
    configure(trainer, case)
    total_loss, grads = 0.0, []
    for k in range(3):
        rows = slice(2 * k, 2 * k + 2)
        theirs = trl_loss(trainer, case, batch, rows)
        ours = our_loss(tmp_path, case, batch, rows, num_sequences=6, num_tokens=batch["mask"].sum().item(),
                        num_micro_batches=3)
        assert_close(ours, theirs, case)
        total_loss += ours[0]
        grads.append(ours[1])
    if loss_type != "bnpo":  # bnpo normalises per micro-batch in TRL, by design
        full = our_loss(tmp_path, case, batch, slice(0, 6), num_sequences=6,
                        num_tokens=batch["mask"].sum().item(), num_micro_batches=1)
        assert abs(full[0] - total_loss) <= TOL
        assert torch.allclose(full[1], torch.cat(grads), rtol=TOL, atol=TOL)


def test_oracle_reports_bad_input(tmp_path):
    src, dst = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    save_file({"per_token_logps": torch.zeros(2, 3, dtype=torch.float64)}, str(src),
              metadata={"mode": "loss", "loss_type": "ppo"})
    proc = subprocess.run([str(oracle_path()), str(src), str(dst)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "metadata key 'epsilon' is missing" in proc.stderr
