"""Our transformer against transformers itself: logits over a padded batch,
checkpoints we write, greedy generation, and the real SmolLM2 weights.

Each checkpoint is created here by transformers with random weights, scaled up
so that logits spread (default init gives near-uniform logits, which would
make any comparison weak)."""
import json
import os
import zlib

import pytest
import torch
from transformers import (AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM,
                          Qwen3Config, Qwen3ForCausalLM)

from logit_parity import (check_greedy_generation, check_logits, check_logprob_rows, max_logit_error, our_logits,
                          random_sequences, reference_logits)
from r1_cli import r1

ROOT = os.environ.get("R1_ROOT", ".")
LOGIT_TOL = 1e-4

COMMON = dict(vocab_size=320, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
              max_position_embeddings=256, rms_norm_eps=1e-6, eos_token_id=7, bos_token_id=1)
LLAMA3_ROPE = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 32}

FAMILIES = {
    "qwen2_gqa2_tied": (Qwen2Config, Qwen2ForCausalLM,
                        dict(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)),
    "qwen2_mha_untied": (Qwen2Config, Qwen2ForCausalLM,
                         dict(num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=False,
                              rope_parameters={"rope_type": "default", "rope_theta": 1e6})),
    "llama_gqa4_llama3_rope_bias": (LlamaConfig, LlamaForCausalLM,
                                    dict(num_attention_heads=8, num_key_value_heads=2, attention_bias=True,
                                         mlp_bias=True, tie_word_embeddings=False, rope_parameters=LLAMA3_ROPE)),
    "llama_mqa_tied": (LlamaConfig, LlamaForCausalLM,
                       dict(num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=True)),
    "qwen3_gqa_headdim32": (Qwen3Config, Qwen3ForCausalLM,
                            dict(num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                                 tie_word_embeddings=True)),
}


def make_reference(name, folder):
    config_cls, model_cls, extra = FAMILIES[name]
    torch.manual_seed(zlib.crc32(name.encode()) % 1000)  # hash() of a str differs per process
    model = model_cls(config_cls(**COMMON, **extra)).eval()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if "norm" in pname:
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.normal_(0, 0.15)
    model.save_pretrained(folder)
    return model


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_logits_match_transformers_on_padded_batch(name, tmp_path):
    model = make_reference(name, tmp_path / "model")
    check_logits(name, model, tmp_path / "model", COMMON["vocab_size"], LOGIT_TOL, tmp_path)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_greedy_generation_is_token_identical(name, tmp_path):
    model = make_reference(name, tmp_path / "model")
    prompts = random_sequences([4, 9, 15], COMMON["vocab_size"], seed=11)
    check_greedy_generation(model, tmp_path / "model", prompts, COMMON["eos_token_id"], tmp_path)


@pytest.mark.parametrize("arch", ["qwen2", "llama", "qwen3"])
def test_checkpoints_we_write_load_in_transformers(arch, tmp_path):
    folder = tmp_path / arch
    r1("model", "init", "--arch", arch, "--preset", "tiny", "--out", str(folder), "--seed", "5")
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    assert model.config.model_type == arch
    sequences = random_sequences([6, 14], model.config.vocab_size, seed=5)
    ours, _ = our_logits(folder, sequences, tmp_path)
    err = max_logit_error(ours, reference_logits(model, sequences), sequences)
    print(f"{arch} (ours -> transformers): max |logit diff| = {err:.2e}")
    assert err < LOGIT_TOL


SMOLLM2 = os.path.join(ROOT, ".cache", "smollm2")


@pytest.mark.skipif(not os.path.exists(os.path.join(SMOLLM2, "config.json")),
                    reason="SmolLM2 was not converted by scripts/setup.sh")
def test_real_smollm2_weights(tmp_path):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(SMOLLM2)
    model = AutoModelForCausalLM.from_pretrained(SMOLLM2, dtype=torch.float32).eval()
    texts = ["The capital of France is", "def fibonacci(n):\n    if n < 2:\n        return n"]
    sequences = [tok(t)["input_ids"] for t in texts]
    ours, _ = our_logits(SMOLLM2, sequences, tmp_path)
    err = max_logit_error(ours, reference_logits(model, sequences), sequences)
    print(f"SmolLM2-135M: max |logit diff| = {err:.2e}")
    assert err < 1e-3  # 30 layers of fp32 with a different op order
    # Completions of real text scored as the GRPO learner scores them (one prompt shared by completions of
    # different lengths: prompt sharing and padding-free), against transformers on each whole sequence.
    prompt = tok("Question: what is the capital of France? Answer:")["input_ids"]
    completions = [tok(t)["input_ids"] for t in
                   [" Paris.", " The capital of France is Paris, a city on the Seine.", " I think it is Lyon"]]
    rows_file = tmp_path / "completions.jsonl"
    rows_file.write_text("".join(json.dumps({"prompt_ids": prompt, "completion_ids": c}) + "\n" for c in completions))
    r1("logprobs", "--model", SMOLLM2, "--input", str(rows_file), "--output", str(tmp_path / "completions_out.jsonl"))
    rows = [json.loads(l) for l in (tmp_path / "completions_out.jsonl").read_text().splitlines()]
    whole = [prompt + c for c in completions]
    worst = check_logprob_rows(rows, reference_logits(model, whole), whole, [len(prompt)] * len(whole), atol=1e-3)
    print(f"SmolLM2-135M completion log-probs (shared prompt, padding-free): max |diff| = {worst:.2e}")
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is 2+2?"}], add_generation_prompt=True,
                                     return_dict=True)["input_ids"]
    prompts_file = tmp_path / "prompts.jsonl"
    prompts_file.write_text(json.dumps({"prompt_ids": prompt}) + "\n")
    out = tmp_path / "out.jsonl"
    r1("generate", "--model", SMOLLM2, "--prompts", str(prompts_file), "--output", str(out), "--temperature", "0",
       "--max-new-tokens", "16", "--quiet")
    with torch.no_grad():
        ref = model.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=16)
    row = json.loads(out.read_text())
    assert row["token_ids"] == ref[0, len(prompt):].tolist()
    assert row["completion"] == tok.decode(ref[0, len(prompt):], skip_special_tokens=True)
    # Text prompts rendered with the checkpoint's own chat template, default system turn included.
    prompts_file.write_text(json.dumps({"prompt": "What is 2+2?"}) + "\n")
    r1("generate", "--model", SMOLLM2, "--prompts", str(prompts_file), "--output", str(out), "--template", "auto",
       "--temperature", "0", "--max-new-tokens", "1", "--quiet")
    expected = tok.apply_chat_template([{"role": "user", "content": "What is 2+2?"}], add_generation_prompt=True,
                                       tokenize=False)
    assert json.loads(out.read_text())["prompt"] == expected


def test_sharded_checkpoint_loads(tmp_path):
    model = make_reference("qwen2_mha_untied", tmp_path / "single")
    model.save_pretrained(tmp_path / "sharded", max_shard_size="100KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").exists()
    sequences = random_sequences([7, 12], COMMON["vocab_size"], seed=8)
    ours, _ = our_logits(tmp_path / "sharded", sequences, tmp_path)
    assert max_logit_error(ours, reference_logits(model, sequences), sequences) < LOGIT_TOL


def test_bfloat16_matches_transformers_bfloat16(tmp_path):
    make_reference("llama_gqa4_llama3_rope_bias", tmp_path / "model")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "model", dtype=torch.bfloat16).eval()
    model.save_pretrained(tmp_path / "bf16")
    sequences = random_sequences([9, 16], COMMON["vocab_size"], seed=4)
    ours, _ = our_logits(tmp_path / "bf16", sequences, tmp_path)
    theirs = reference_logits(model, sequences).float()
    err = max_logit_error(ours, theirs, sequences)
    scale = max(theirs[i, :len(s)].abs().max().item() for i, s in enumerate(sequences))
    # The yardstick is transformers' own bf16 error: both are measured against
    # the same bf16 weights run in fp32, and ours may be at most as far off.
    exact = AutoModelForCausalLM.from_pretrained(tmp_path / "bf16", dtype=torch.float32).eval()
    truth = reference_logits(exact, sequences)
    ours_off, theirs_off = max_logit_error(ours, truth, sequences), max_logit_error(theirs, truth, sequences)
    print(f"bf16: max |logit diff| = {err:.2e} (logits up to {scale:.1f}); from fp32: ours {ours_off:.2e}, "
          f"transformers {theirs_off:.2e}")
    assert ours_off <= 1.25 * theirs_off


def run_failing(*args):
    result = r1(*args, check=False)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("r1: error: "), result.stderr
    return result.stderr


def test_bad_checkpoints_give_clear_errors(tmp_path):
    folder = tmp_path / "model"
    r1("model", "init", "--arch", "qwen2", "--preset", "tiny", "--out", str(folder))
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt_ids": [1, 2], "completion_ids": [3]}) + "\n")
    weights = folder / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    err = run_failing("logprobs", "--model", str(folder), "--input", str(rows))
    assert str(weights) in err and "outside the data block" in err
    weights.write_bytes(good)
    config = json.loads((folder / "config.json").read_text())
    del config["num_hidden_layers"]
    (folder / "config.json").write_text(json.dumps(config))
    err = run_failing("logprobs", "--model", str(folder), "--input", str(rows))
    assert "config.json: field 'num_hidden_layers' is missing" in err


def test_bad_prompts_give_clear_errors(tmp_path):
    folder = tmp_path / "model"
    r1("model", "init", "--arch", "qwen2", "--preset", "tiny", "--out", str(folder))
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt_ids": [1] * 3000}) + "\n")
    err = run_failing("generate", "--model", str(folder), "--prompts", str(prompts))
    assert "prompt 0 has 3000 tokens" in err and "max_position_embeddings" in err
    prompts.write_text('{"prompt": "ok"}\n{"prompt": 5}\n')
    err = run_failing("generate", "--model", str(folder), "--prompts", str(prompts))
    assert f"{prompts}:2: field 'prompt' must be a string" in err
