"""Our logits against transformers': the padded batches both sides score, and the error between them (used by
test_model_parity.py and test_deepseek_parity.py)."""
import json

import torch
from safetensors.torch import load_file

from r1_cli import r1


def random_sequences(lengths, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (n,), generator=g).tolist() for n in lengths]


def our_logits(model_dir, sequences, tmp_path, *flags):
    """`r1 logprobs --dump-logits` over the sequences (more `flags` passed on): (logits [rows, L, V], the output
    rows)."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"prompt_ids": s[:1], "completion_ids": s[1:]}) + "\n" for s in sequences))
    dump = tmp_path / "logits.safetensors"
    out = tmp_path / "logprobs.jsonl"
    r1("logprobs", "--model", str(model_dir), "--input", str(rows), "--output", str(out), "--dump-logits", str(dump),
       *flags)
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
        return model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits


def max_logit_error(ours, theirs, sequences):
    return max((ours[i, :len(s)] - theirs[i, :len(s)]).abs().max().item() for i, s in enumerate(sequences))


def check_logprob_rows(rows, theirs, sequences, prompt_lengths=None, atol=1e-4):
    """The per-token log-probs `r1 logprobs` reports for the completions (after prompts of `prompt_lengths`
    tokens, 1 by default) are those of the reference logits; returns the largest difference."""
    worst = 0.0
    for i, s in enumerate(sequences):
        p = prompt_lengths[i] if prompt_lengths else 1
        ref = torch.log_softmax(theirs[i, p - 1:len(s) - 1].double(), -1).gather(-1, torch.tensor(s[p:])[:, None])[:, 0]
        ours = torch.tensor(rows[i]["logprobs"], dtype=torch.double)
        assert ours.shape == ref.shape and torch.allclose(ours, ref, atol=atol), (i, (ours - ref).abs().max())
        worst = max(worst, (ours - ref).abs().max().item())
    return worst


def check_greedy_generation(model, model_dir, prompts, eos_token_id, tmp_path, max_new_tokens=24):
    """`r1 generate` at temperature 0 gives transformers' greedy tokens, with the finish reason they imply."""
    prompts_file = tmp_path / "prompts.jsonl"
    prompts_file.write_text("".join(json.dumps({"prompt_ids": p}) + "\n" for p in prompts))
    out = tmp_path / "out.jsonl"
    r1("generate", "--model", str(model_dir), "--prompts", str(prompts_file), "--output", str(out),
       "--temperature", "0", "--max-new-tokens", str(max_new_tokens), "--quiet")
    ours = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(ours) == len(prompts)
    for p, row in zip(prompts, ours):
        with torch.no_grad():
            ref = model.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                                 do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=eos_token_id,
                                 pad_token_id=0)
        expected = ref[0, len(p):].tolist()
        assert row["token_ids"] == expected
        assert row["finish_reason"] == ("stop" if expected[-1] == eos_token_id else "length")


def check_logits(name, model, folder, vocab_size, tol, work):
    """Our logits of `folder` (the checkpoint `model` saved) over a right-padded batch equal `model`'s within
    `tol` at every real position, and the logprob rows agree; returns the largest logit's size."""
    sequences = random_sequences([5, 23, 12, 17], vocab_size, seed=3)
    ours, rows = our_logits(folder, sequences, work)
    theirs = reference_logits(model, sequences)
    err = max_logit_error(ours, theirs, sequences)
    scale = max(theirs[i, :len(s)].abs().max().item() for i, s in enumerate(sequences))
    print(f"{name}: max |logit diff| = {err:.2e} (logits up to {scale:.1f})")
    assert err < tol
    check_logprob_rows(rows, theirs, sequences)
    return scale

