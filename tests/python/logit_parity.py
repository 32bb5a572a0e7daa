"""Our logits against transformers': the padded batches both sides score, and the error between them (used by
test_model_parity.py and test_deepseek_parity.py)."""
import json

import torch
from safetensors.torch import load_file

from r1_cli import r1


def random_sequences(lengths, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (n,), generator=g).tolist() for n in lengths]


def our_logits(model_dir, sequences, tmp_path):
    """`r1 logprobs --dump-logits` over the sequences: (logits [rows, L, V], the output rows)."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"prompt_ids": s[:1], "completion_ids": s[1:]}) + "\n" for s in sequences))
    dump = tmp_path / "logits.safetensors"
    out = tmp_path / "logprobs.jsonl"
    r1("logprobs", "--model", str(model_dir), "--input", str(rows), "--output", str(out), "--dump-logits", str(dump))
    return load_file(str(dump))["logits"], [json.loads(l) for l in out.read_text().splitlines()]


def reference_logits(model, sequences):
    """Right-padded batch with an attention mask, as our scorer pads."""
    L = max(len(s) for s in sequences)
    ids = torch.zeros(len(sequences), L, dtype=torch.long)
    mask = torch.zeros(len(sequences), L, dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def max_logit_error(ours, theirs, sequences):
    return max((ours[i, :len(s)] - theirs[i, :len(s)]).abs().max().item() for i, s in enumerate(sequences))
