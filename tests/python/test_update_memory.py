"""Peak memory of one GRPO update on a Qwen2.5-0.5B-shaped model (24 layers,
151,936-token vocabulary, fp32) with two 1,024-token completions, counted above
the weights, gradients and AdamW state: the learner with chunked log-probs and
activation checkpointing against the full-logits learner it replaced
(bench/update_memory_bench.cc). Each mode runs in its own process; the test
runs alone (RUN_SERIAL) because the full-logits update holds about 18 GB."""
import json
import os
import subprocess

BENCH = os.path.join(os.path.dirname(os.environ["R1_BIN"]), "grpo", "update_memory_bench")


def peak_above_base(mode: str) -> dict:
    out = subprocess.run([BENCH, "--mode", mode], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["mode"] == mode and result["layers"] == 24 and result["tokens"] == 2 * (64 + 1024)
    # The base holds fp32 weights, gradients and two AdamW moments: 4 copies of 494M parameters.
    assert 7.0 < result["base_gib"] < 9.5, result
    return result


def test_chunked_logprobs_and_checkpointing_cut_the_update_peak_at_least_3x():
    before = peak_above_base("full-logits")
    after = peak_above_base("checkpointed")
    print(json.dumps({"before": before, "after": after}))
    # The [tokens x vocab] fp32 logits alone take 1.2 GiB per copy.
    assert before["peak_above_base_gib"] > 4.0, before
    assert before["peak_above_base_gib"] >= 3.0 * after["peak_above_base_gib"], (before, after)
