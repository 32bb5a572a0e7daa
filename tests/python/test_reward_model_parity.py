"""Reward models: our scores against transformers' *ForSequenceClassification
(num_labels 1, as TRL's RewardTrainer makes them) over a padded batch, for
Qwen2, Llama and Qwen3. transformers pools each row at its last token that is
not pad_token_id; rows here differ in length and one ends in the pad id.

Each checkpoint is made here by transformers with random weights, widened so
that scores spread (the default init gives scores near 0)."""
import json
import zlib

import pytest
import torch
from transformers import (LlamaConfig, LlamaForSequenceClassification, Qwen2Config, Qwen2ForSequenceClassification,
                          Qwen3Config, Qwen3ForSequenceClassification)

from r1_cli import r1

SCORE_TOL = 1e-4
PAD = 0
COMMON = dict(vocab_size=200, hidden_size=64, intermediate_size=128, num_hidden_layers=2, max_position_embeddings=128,
              pad_token_id=PAD, num_labels=1)
FAMILIES = {
    "qwen2": (Qwen2Config, Qwen2ForSequenceClassification, dict(num_attention_heads=4, num_key_value_heads=2)),
    "llama": (LlamaConfig, LlamaForSequenceClassification,
              dict(num_attention_heads=4, num_key_value_heads=1, attention_bias=True, tie_word_embeddings=False)),
    "qwen3": (Qwen3Config, Qwen3ForSequenceClassification,
              dict(num_attention_heads=4, num_key_value_heads=2, head_dim=32)),
}


def make_reward_model(name, folder):
    config_cls, model_cls, extra = FAMILIES[name]
    torch.manual_seed(zlib.crc32(name.encode()) % 1000)
    model = model_cls(config_cls(**COMMON, **extra)).eval()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            p.copy_(1 + 0.2 * torch.randn_like(p)) if "norm" in pname else p.normal_(0, 0.15)
    model.save_pretrained(folder)
    return model


def sequences():
    g = torch.Generator().manual_seed(3)
    rows = [torch.randint(1, COMMON["vocab_size"], (n,), generator=g).tolist() for n in (5, 17, 9, 1, 12)]
    rows[2][-1] = PAD  # scored at its previous token, as transformers does
    return rows


def reference_scores(model, rows):
    length = max(len(r) for r in rows)
    ids = torch.tensor([r + [PAD] * (length - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows])
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits.squeeze(-1)


def our_scores(folder, rows, tmp_path, batch_size):
    inputs = tmp_path / "rows.jsonl"
    inputs.write_text("".join(json.dumps({"ids": r}) + "\n" for r in rows))
    out = tmp_path / "scores.jsonl"
    r1("rm", "score", "--model", folder, "--input", inputs, "--output", out, "--batch-size", batch_size)
    return torch.tensor([json.loads(line)["score"] for line in out.read_text().splitlines()], dtype=torch.float32)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_scores_match_transformers_on_padded_batch(name, tmp_path):
    model = make_reward_model(name, tmp_path / "rm")
    rows = sequences()
    theirs = reference_scores(model, rows)
    assert theirs.std() > 0.1, theirs  # spread enough to tell rows apart
    for batch_size in (5, 2):
        ours = our_scores(tmp_path / "rm", rows, tmp_path, batch_size)
        err = (ours - theirs).abs().max().item()
        print(f"{name}, batch {batch_size}: max |score diff| = {err:.2e}")
        assert err < SCORE_TOL, (ours, theirs)


def test_a_causal_lm_or_two_labels_is_refused(tmp_path):
    config_cls, model_cls, extra = FAMILIES["qwen2"]
    model_cls(config_cls(**{**COMMON, "num_labels": 2}, **extra)).save_pretrained(tmp_path / "two")
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"ids": [1, 2]}) + "\n")
    result = r1("rm", "score", "--model", tmp_path / "two", "--input", rows, check=False)
    assert result.returncode == 1
    assert "a reward model has one label; config.json has num_labels 2" in result.stderr
    r1("model", "init", "--arch", "qwen2", "--preset", "tiny", "--out", tmp_path / "lm")
    result = r1("rm", "score", "--model", tmp_path / "lm", "--input", rows, check=False)
    assert result.returncode == 1 and "not a reward model" in result.stderr
    make_reward_model("qwen2", tmp_path / "rm")
    rows.write_text(json.dumps({"ids": [1, 2]}) + "\n" + json.dumps({"prompt": "x"}) + "\n")
    result = r1("rm", "score", "--model", tmp_path / "rm", "--input", rows, check=False)
    assert result.returncode == 1 and f"{rows}:2: expected 'ids' (token ids) or 'text'" in result.stderr, result.stderr
    rows.write_text(json.dumps({"ids": [1, 200]}) + "\n")
    result = r1("rm", "score", "--model", tmp_path / "rm", "--input", rows, check=False)
    assert result.returncode == 1 and "token id 200 is outside the vocabulary [0, 200)" in result.stderr
