"""Parity of reward/preference_loss.cc with TRL 1.16's RewardTrainer.compute_loss:
the Bradley-Terry loss over preference pairs, with and without a per-pair
margin and center_rewards_coefficient.

A real RewardTrainer (tiny random Qwen2ForSequenceClassification, built here)
runs its compute_loss on rewards we control: the model it calls returns a
leaf tensor of chosen-then-rejected scores, so the gradient w.r.t. the scores
is TRL's. The same scores go to preference_loss_oracle (our C++) through a
safetensors file; loss and gradients must agree in float64."""
import os
import pathlib
import subprocess
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from word_tokenizer import save_word_tokenizer

TOL = 1e-12


def oracle_path():
    return pathlib.Path(os.environ["R1_BIN"]).parent / "reward" / "preference_loss_oracle"


@pytest.fixture(scope="module")
def trainer_factory(tmp_path_factory):
    from datasets import Dataset
    from transformers import Qwen2Config, Qwen2ForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    folder = tmp_path_factory.mktemp("tiny_rm")
    save_word_tokenizer(folder)
    config = Qwen2Config(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, num_labels=1, pad_token_id=0)
    Qwen2ForSequenceClassification(config).save_pretrained(folder)
    data = Dataset.from_dict({"chosen": ["w1 w2", "w3"], "rejected": ["w4", "w5 w6"]})

    def make(center):
        args = RewardConfig(output_dir=str(folder / "out"), report_to="none", use_cpu=True, bf16=False,
                            center_rewards_coefficient=center)
        t = RewardTrainer(model=str(folder), args=args, train_dataset=data)
        t.model.train()
        return t

    return make


def trl_loss(trainer, chosen, rejected, margin):
    scores = torch.cat([chosen, rejected]).clone().requires_grad_(True)
    n = len(chosen)
    model = lambda **inputs: SimpleNamespace(logits=scores.unsqueeze(-1))  # noqa: E731
    inputs = {"input_ids": torch.ones(2 * n, 3, dtype=torch.long),
              "attention_mask": torch.ones(2 * n, 3, dtype=torch.long)}
    if margin is not None:
        inputs["margin"] = margin
    loss = trainer.compute_loss(model, inputs)
    loss.backward()
    return loss.item(), scores.grad[:n], scores.grad[n:]


def our_loss(tmp, chosen, rejected, margin, center):
    tensors = {"chosen": chosen.contiguous(), "rejected": rejected.contiguous()}
    if margin is not None:
        tensors["margin"] = margin.contiguous()
    meta = {} if center is None else {"center_rewards_coefficient": repr(center)}
    save_file(tensors, tmp / "in.safetensors", metadata=meta)
    subprocess.run([oracle_path(), tmp / "in.safetensors", tmp / "out.safetensors"], check=True)
    out = load_file(tmp / "out.safetensors")
    return out["loss"].item(), out["grad_chosen"], out["grad_rejected"]


@pytest.mark.parametrize("center", [None, 0.01, 0.5])
@pytest.mark.parametrize("with_margin", [False, True])
def test_loss_and_gradient_equal_trl(trainer_factory, tmp_path, center, with_margin):
    trainer = trainer_factory(center)
    g = torch.Generator().manual_seed(7)
    n = 9
    chosen = torch.randn(n, generator=g, dtype=torch.float64) * 3
    rejected = torch.randn(n, generator=g, dtype=torch.float64) * 3
    rejected[0] = chosen[0] + 40  # a far-wrong pair: logsigmoid must not overflow
    margin = torch.rand(n, generator=g, dtype=torch.float64) * 2 if with_margin else None
    theirs = trl_loss(trainer, chosen, rejected, margin)
    ours = our_loss(tmp_path, chosen, rejected, margin, center)
    print(f"center {center}, margin {with_margin}: loss ours {ours[0]:.12f} TRL {theirs[0]:.12f}")
    assert abs(ours[0] - theirs[0]) < TOL * max(1.0, abs(theirs[0]))
    for mine, ref in zip(ours[1:], theirs[1:]):
        assert torch.allclose(mine, ref, rtol=0, atol=TOL), (mine, ref)
