"""Parity of grpo/policy_loss.cc with TRL 1.16's GRPOTrainer._compute_loss.

A real GRPOTrainer (tiny random Qwen2, built here) computes the loss on crafted
float64 inputs: its log-prob forward is replaced by a leaf tensor we control,
so the gradient w.r.t. per_token_logps is TRL's. The same inputs go to
grpo_loss_oracle (our C++) through a safetensors file; loss, gradient and the
clip/KL metrics must agree.

Advantages: TRL's own code in GRPOTrainer/RLOOTrainer._generate_and_score_completions
runs with generation and reward functions replaced by fixed outputs, and must
match our estimators (float32, as TRL computes them), NaN (unscorable) rewards
and frac_reward_zero_std included.
"""
import os
import pathlib
import subprocess
from collections import defaultdict

import pytest
import torch
from safetensors.torch import load_file, save_file

from word_tokenizer import save_word_tokenizer

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
def tiny_model(tmp_path_factory):
    """A random tiny Qwen2 and a word-level tokenizer, saved where TRL can load them by path."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_qwen2")
    save_word_tokenizer(folder)
    config = Qwen2Config(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    return folder


def build_trainer(folder, trainer_cls, config_cls, **kw):
    from datasets import Dataset

    args = config_cls(output_dir=str(folder / "out"), per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=8, report_to="none", use_cpu=True, bf16=False,
                      gradient_checkpointing=False, **kw)
    t = trainer_cls(model=str(folder), reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
                    args=args, train_dataset=Dataset.from_dict({"prompt": ["w1 w2", "w3 w4"]}))
    t.model.train()
    return t


@pytest.fixture(scope="module")
def trainer(tiny_model):
    from trl import GRPOConfig, GRPOTrainer

    return build_trainer(tiny_model, GRPOTrainer, GRPOConfig, beta=0.04)


@pytest.fixture(scope="module")
def rloo_trainer(tiny_model):
    from trl import RLOOConfig, RLOOTrainer

    return build_trainer(tiny_model, RLOOTrainer, RLOOConfig, beta=0.0)


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


def trl_advantages(t, rewards, num_generations, scale_rewards=None):
    """TRL's own advantage code in _generate_and_score_completions, with generation and rewards replaced."""
    n = rewards.numel()
    t.num_generations = num_generations
    t.scale_rewards = scale_rewards
    t._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    generated = ([[3, 4]] * n, [[5, 6, 1]] * n, ["w1"] * n)
    if scale_rewards is None:  # RLOOTrainer._generate returns three lists
        t._generate = lambda prompts: generated
    else:
        t._generate = lambda prompts: (generated[0], generated[1], None, generated[2], None, {}, None, None)
    t._calculate_rewards = lambda *a: rewards[:, None].clone()
    out = t._generate_and_score_completions([{"prompt": "w1 w2"}] * n)
    return out["advantages"], t._metrics["train"]["frac_reward_zero_std"][-1]


def our_advantages(tmp, rewards, num_generations, scale_rewards, estimator="grpo"):
    src, dst = tmp / "adv_in.safetensors", tmp / "adv_out.safetensors"
    save_file({"rewards": rewards}, str(src), metadata={"mode": "advantages", "estimator": estimator,
                                                        "num_generations": str(num_generations),
                                                        "scale_rewards": scale_rewards})
    proc = subprocess.run([str(oracle_path()), str(src), str(dst)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = load_file(str(dst))
    return out["advantages"], out["frac_reward_zero_std"].item()


REWARD_SETS = {
    "binary": ([1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0], 4),
    "graded": ([0.5, 0.25, 1.0, 0.0, 0.75, 0.75, 0.1, 0.9], 2),
    "unscorable": ([1, float("nan"), 0, 0.5, 2, 2, 2, 2, float("nan"), 3, float("nan"), float("nan")], 4),
    "all_equal": ([1, 1, 1, 1, 1, 1], 3),
}


@pytest.mark.parametrize("scale_rewards", ["group", "batch", "none"])
@pytest.mark.parametrize("name", list(REWARD_SETS))
def test_advantages_match_trl(trainer, tmp_path, name, scale_rewards):
    values, g = REWARD_SETS[name]
    rewards = torch.tensor(values, dtype=torch.float32)  # TRL's reward dtype
    theirs, their_frac = trl_advantages(trainer, rewards, g, scale_rewards)
    ours, our_frac = our_advantages(tmp_path, rewards, g, scale_rewards)
    assert torch.allclose(ours, theirs, rtol=1e-6, atol=1e-6), (ours, theirs)
    assert our_frac == pytest.approx(their_frac, abs=1e-7)


@pytest.mark.parametrize("name", list(REWARD_SETS))
def test_rloo_advantages_match_trl(rloo_trainer, tmp_path, name):
    values, g = REWARD_SETS[name]
    rewards = torch.tensor(values, dtype=torch.float32)
    theirs, their_frac = trl_advantages(rloo_trainer, rewards, g)
    ours, our_frac = our_advantages(tmp_path, rewards, g, "group", estimator="rloo")
    assert torch.allclose(ours, theirs, rtol=1e-6, atol=1e-6), (ours, theirs)
    assert our_frac == pytest.approx(their_frac, abs=1e-7)



# Importance-sampling correction (grpo/sampling_correction.h) against TRL's own
# code: GRPOTrainer._generate_and_score_completions computes the ratio from the
# sampler's log-probs (as vLLM's would arrive) and the recomputed π_old, then
# _compute_loss weights the surrogate with it.
IS_CASES = [("token_truncate", None, 3.0), ("token_truncate", 0.8, 1.2), ("token_mask", 0.5, 2.0),
            ("sequence_truncate", None, 3.0), ("sequence_mask", 0.5, 3.0), ("sequence_mask", None, None)]
IS_METRICS = ["sampling/importance_sampling_ratio/min", "sampling/importance_sampling_ratio/mean",
              "sampling/importance_sampling_ratio/max", "sampling/sampling_logp_difference/mean",
              "sampling/sampling_logp_difference/max"]


def trl_importance_ratio(t, mode, clip_min, clip_max, old, sampling, lengths):
    """TRL's ratio and its sampling/* metrics for completions of `lengths` tokens."""
    n = len(lengths)
    t.use_vllm, t.vllm_importance_sampling_correction = True, True
    t.vllm_importance_sampling_mode = mode
    t.vllm_importance_sampling_clip_min, t.vllm_importance_sampling_clip_max = clip_min, clip_max
    t.num_generations, t.scale_rewards, t.beta = 2, "group", 0.0
    t._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    completions = [[5] * int(k) for k in lengths]
    logps = [sampling[i, :int(k)].tolist() for i, k in enumerate(lengths)]
    t._generate = lambda prompts: ([[3, 4]] * n, completions, None, ["w1"] * n, logps, {}, None, None)
    t._get_per_token_logps_and_entropies = lambda *a, **k: (old.clone(), None, None)
    t._calculate_rewards = lambda *a: torch.zeros(n, 1)
    try:
        out = t._generate_and_score_completions([{"prompt": "w1 w2"}] * n)
    finally:
        t.use_vllm = False
    metrics = {k: v[-1] for k, v in t._metrics["train"].items()}
    return out["importance_sampling_ratio"], metrics


@pytest.mark.parametrize("mode,clip_min,clip_max", IS_CASES)
def test_importance_sampling_correction_matches_trl(trainer, tmp_path, mode, clip_min, clip_max):
    batch = make_batch(seed=21, spread=0.5)
    batch["mask"][2, 0] = 1  # every completion has a token, as TRL's generations do
    lengths = batch["mask"].sum(-1)
    mask = batch["mask"]
    # π_old and the sampler's log-probs in float32, as they reach TRL.
    old = (batch["old"] * mask).float()
    sampling = ((batch["old"] + torch.randn(batch["old"].shape, generator=torch.Generator().manual_seed(3),
                                            dtype=torch.float64) * 0.6) * mask).float()
    ratio, their_metrics = trl_importance_ratio(trainer, mode, clip_min, clip_max, old, sampling, lengths)

    case = make_case(loss_type="dapo", beta=0.04, epsilon_high=0.28)
    configure(trainer, case)
    logps = batch["logps"].clone().requires_grad_(True)
    trainer._get_per_token_logps_and_entropies = lambda *a, **k: (logps, torch.zeros_like(logps), None)
    trainer.use_vllm = True
    try:
        loss = trainer._compute_loss(trainer.model, {
            "prompt_ids": torch.ones(6, 2, dtype=torch.long), "prompt_mask": torch.ones(6, 2, dtype=torch.long),
            "completion_ids": torch.ones(6, 8, dtype=torch.long), "completion_mask": mask,
            "advantages": batch["adv"], "num_items_in_batch": mask.sum(), "old_per_token_logps": old.double(),
            "ref_per_token_logps": batch["ref"], "importance_sampling_ratio": ratio.double()})
    finally:
        trainer.use_vllm = False
    loss.backward()

    tensors = {"per_token_logps": batch["logps"].contiguous(), "advantages": batch["adv"].contiguous(),
               "completion_mask": mask.contiguous(), "num_tokens": torch.tensor(float(mask.sum()), dtype=torch.float64),
               "old_per_token_logps": old.double().contiguous(), "ref_per_token_logps": batch["ref"].contiguous(),
               "sampling_per_token_logps": sampling.double().contiguous()}
    meta = {"mode": "loss", "loss_type": "dapo", "epsilon": "0.2", "epsilon_high": "0.28", "beta": "0.04",
            "importance_sampling_level": "token", "use_bias_correction_kl": "1", "max_completion_length": "8",
            "num_sequences": "6.0", "num_micro_batches": "1", "is_mode": mode}
    if clip_min is not None:
        meta["is_clip_min"] = repr(clip_min)
    if clip_max is not None:
        meta["is_clip_max"] = repr(clip_max)
    src, dst = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    save_file(tensors, str(src), metadata=meta)
    proc = subprocess.run([str(oracle_path()), str(src), str(dst)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    ours = load_file(str(dst))

    weights = ours["importance_weights"]
    assert weights.shape == ratio.shape
    # TRL's ratio is float32; ours float64 from the same float32 inputs.
    assert torch.allclose(weights, ratio.double(), rtol=1e-6, atol=1e-7), (weights - ratio.double()).abs().max()
    if mode.endswith("mask") and clip_max is not None:
        assert (weights == 0).any(), "inputs should exercise masking"
    assert abs(ours["loss"].item() - loss.item()) <= 1e-6 * max(1.0, abs(loss.item()))
    assert torch.allclose(ours["grad"], logps.grad, rtol=1e-6, atol=1e-9)
    for name in IS_METRICS:
        assert ours[name].item() == pytest.approx(their_metrics[name], rel=1e-5, abs=1e-6), name
