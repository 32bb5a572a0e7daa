"""DeepSeek V2/V3 (multi-head latent attention, DeepSeekMoE, YaRN) against transformers' DeepseekV2ForCausalLM and
DeepseekV3ForCausalLM: logits over a padded batch, greedy generation from the compressed cache, checkpoints we
write, the multi-token-prediction layers we skip, and errors that name the field.

Each checkpoint is made here by transformers with random weights, scaled up so that logits spread and routing
differs between tokens; V3's score correction bias is random too, so that it steers the choice of experts."""
import json
import zlib

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import (AutoModelForCausalLM, DeepseekV2Config, DeepseekV2ForCausalLM, DeepseekV3Config,
                          DeepseekV3ForCausalLM)

from logit_parity import (check_greedy_generation, check_logits, max_logit_error, our_logits, random_sequences,
                          reference_logits)
from r1_cli import r1

LOGIT_TOL = 1e-4

COMMON = dict(vocab_size=320, hidden_size=64, intermediate_size=96, moe_intermediate_size=24, num_hidden_layers=3,
              num_attention_heads=4, num_key_value_heads=4, kv_lora_rank=32, qk_nope_head_dim=16,
              qk_rope_head_dim=8, v_head_dim=16, n_routed_experts=8, num_experts_per_tok=2,
              max_position_embeddings=256, rms_norm_eps=1e-6, eos_token_id=7, bos_token_id=1)
YARN = {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 64,
        "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 0.8}

CONFIGS = {
    # DeepSeek-V3's own shape: q-LoRA, YaRN, group-limited routing, one dense layer first.
    "v3_qlora_yarn_groups": (DeepseekV3Config, DeepseekV3ForCausalLM,
                             dict(q_lora_rank=24, rope_parameters=YARN, n_group=4, topk_group=2, n_shared_experts=1,
                                  first_k_dense_replace=1, routed_scaling_factor=2.5, norm_topk_prob=True)),
    # Moonlight's: no q-LoRA; here also rope halves, two shared experts, biases and tied embeddings.
    "v3_no_qlora_shared2": (DeepseekV3Config, DeepseekV3ForCausalLM,
                            dict(q_lora_rank=None, n_group=1, topk_group=1, n_shared_experts=2,
                                 first_k_dense_replace=0, rope_interleave=False, norm_topk_prob=False,
                                 routed_scaling_factor=1.0, attention_bias=True, tie_word_embeddings=True)),
    # DeepSeek-V2-Lite's: softmax router, greedy, no q-LoRA.
    "v2_lite": (DeepseekV2Config, DeepseekV2ForCausalLM,
                dict(q_lora_rank=None, topk_method="greedy", n_shared_experts=2, first_k_dense_replace=1,
                     routed_scaling_factor=1.0)),
    # DeepSeek-V2's: q-LoRA, group_limited_greedy, YaRN.
    "v2_qlora_group_limited_yarn": (DeepseekV2Config, DeepseekV2ForCausalLM,
                                    dict(q_lora_rank=24, topk_method="group_limited_greedy", n_group=4, topk_group=2,
                                         n_shared_experts=1, first_k_dense_replace=0, routed_scaling_factor=2.0,
                                         rope_parameters=dict(YARN, mscale=0.707, mscale_all_dim=0.707))),
}


def make_reference(name, folder):
    config_cls, model_cls, extra = CONFIGS[name]
    torch.manual_seed(zlib.crc32(name.encode()) % 1000)
    model = model_cls(config_cls(**COMMON, **extra)).eval()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if "norm" in pname:
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.normal_(0, 0.15)
        for bname, b in model.named_buffers():
            if bname.endswith("e_score_correction_bias"):
                b.normal_(0, 0.1)
    model.save_pretrained(folder)
    return model


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_logits_match_transformers_on_padded_batch(name, tmp_path):
    model = make_reference(name, tmp_path / "model")
    scale = check_logits(name, model, tmp_path / "model", COMMON["vocab_size"], LOGIT_TOL, tmp_path)
    assert scale > 1.0


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_greedy_generation_from_the_compressed_cache_is_token_identical(name, tmp_path):
    model = make_reference(name, tmp_path / "model")
    prompts = random_sequences([4, 9, 15], COMMON["vocab_size"], seed=11)
    check_greedy_generation(model, tmp_path / "model", prompts, COMMON["eos_token_id"], tmp_path)


@pytest.mark.parametrize("arch", ["deepseek_v3", "deepseek_v2"])
def test_checkpoints_we_write_load_in_transformers(arch, tmp_path):
    folder = tmp_path / arch
    r1("model", "init", "--arch", arch, "--preset", "tiny", "--out", folder, "--seed", "5")
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    assert model.config.model_type == arch
    with torch.no_grad():  # transformers' init gives near-uniform logits: spread them as above
        for pname, p in model.named_parameters():
            p.mul_(1 if "norm" in pname else 6)
    model.save_pretrained(tmp_path / "spread")
    sequences = random_sequences([6, 14], model.config.vocab_size, seed=5)
    ours, _ = our_logits(folder, sequences, tmp_path)
    err = max_logit_error(ours, reference_logits(AutoModelForCausalLM.from_pretrained(folder).eval(), sequences),
                          sequences)
    print(f"{arch} (ours -> transformers): max |logit diff| = {err:.2e}")
    assert err < LOGIT_TOL
    ours, _ = our_logits(tmp_path / "spread", sequences, tmp_path)
    assert max_logit_error(ours, reference_logits(model, sequences), sequences) < LOGIT_TOL


def test_multi_token_prediction_layers_are_skipped_and_said_so(tmp_path):
    folder = tmp_path / "model"
    model = make_reference("v3_qlora_yarn_groups", folder)
    weights = load_file(str(folder / "model.safetensors"))
    n = COMMON["num_hidden_layers"]
    weights[f"model.layers.{n}.eh_proj.weight"] = torch.randn(64, 128)
    weights[f"model.layers.{n}.enorm.weight"] = torch.ones(64)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((folder / "config.json").read_text())
    config["num_nextn_predict_layers"] = 1
    (folder / "config.json").write_text(json.dumps(config))
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt_ids": [1, 2], "completion_ids": [3, 4]}) + "\n")
    result = r1("logprobs", "--model", folder, "--input", rows, "--output", tmp_path / "out.jsonl")
    assert f"skipping 2 tensors of 1 multi-token-prediction layer(s) from model.layers.{n}" in result.stderr
    sequences = random_sequences([9], COMMON["vocab_size"], seed=2)
    ours, _ = our_logits(folder, sequences, tmp_path)
    assert max_logit_error(ours, reference_logits(model, sequences), sequences) < LOGIT_TOL


def run_failing(model, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt_ids": [1, 2], "completion_ids": [3]}) + "\n")
    result = r1("logprobs", "--model", model, "--input", rows, check=False)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("r1: error: "), result.stderr
    return result.stderr


@pytest.mark.parametrize("key,value,message", [
    ("scoring_func", "softmax", "field 'scoring_func' must be \"sigmoid\" for deepseek_v3, got \"softmax\""),
    ("topk_method", "greedy", "field 'topk_method' must be \"noaux_tc\" for deepseek_v3, got \"greedy\""),
    ("rope_parameters", {"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0},
     "rope type 'dynamic' is not supported"),
    ("n_group", 3, "field 'n_group' (3) must divide n_routed_experts (8)"),
])
def test_bad_configs_name_the_field(key, value, message, tmp_path):
    folder = tmp_path / "model"
    make_reference("v3_qlora_yarn_groups", folder)
    config = json.loads((folder / "config.json").read_text())
    config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    err = run_failing(folder, tmp_path)
    assert f"{folder / 'config.json'}" in err and message in err, err


def test_v2_topk_method_must_be_known(tmp_path):
    folder = tmp_path / "model"
    make_reference("v2_lite", folder)
    config = json.loads((folder / "config.json").read_text())
    config["topk_method"] = "noaux_tc"
    (folder / "config.json").write_text(json.dumps(config))
    assert "field 'topk_method' must be \"greedy\" or \"group_limited_greedy\"" in run_failing(folder, tmp_path)


def test_missing_expert_tensor_is_named(tmp_path):
    folder = tmp_path / "model"
    make_reference("v3_qlora_yarn_groups", folder)
    weights = load_file(str(folder / "model.safetensors"))
    del weights["model.layers.2.mlp.experts.5.up_proj.weight"]
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    assert "checkpoint lacks tensor 'model.layers.2.mlp.experts.5.up_proj.weight'" in run_failing(folder, tmp_path)
