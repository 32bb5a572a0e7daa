"""One sample-and-score path for every job.

The same prompts and sampling settings through `r1 generate`, `r1 eval` and
`r1 sample` give the same completions (token counts, finish reasons and
text cut at the stop string), whatever batch size each command uses: every
command samples through the same rollout worker, and each (prompt, sample)
row draws from its own random stream keyed by the seed, the prompt's index
and the sample's index.
"""
import json
import sqlite3

import pytest

from r1_cli import r1, tiny_arithmetic_model, write_jsonl

K = 3
SEED = 11
SAMPLING = {"temperature": 0.9, "top_p": 0.95, "top_k": 40, "min_p": 0.02, "max_new_tokens": 24}
STOP = "h"  # in about two thirds of this random model's completions


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("one_path")
    model = tiny_arithmetic_model(d)
    rows = [{"prompt": f"What is {a} + {b}?", "answer": str(a + b)} for a, b in
            [(12, 30), (45, 17), (8, 91), (66, 66), (23, 5), (70, 14), (39, 48)]]
    return model, write_jsonl(d / "prompts.jsonl", rows), len(rows)


def from_generate(model, prompts, tmp_path):
    out = tmp_path / "generated.jsonl"
    r1("generate", "--model", model, "--prompts", prompts, "--template", "chatml", "--num-samples", K,
       "--max-new-tokens", SAMPLING["max_new_tokens"], "--temperature", SAMPLING["temperature"],
       "--top-p", SAMPLING["top_p"], "--top-k", SAMPLING["top_k"], "--min-p", SAMPLING["min_p"],
       "--stop", STOP, "--seed", SEED, "--output", out, "--quiet")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {(r["prompt_index"], r["sample_index"]): (r["completion"], len(r["token_ids"]), r["finish_reason"])
            for r in rows}


def from_eval(model, prompts, tmp_path, **keys):
    """`keys`: more config keys, as --set (the rollout_workers of test_rollout_pool)."""
    out = tmp_path / "eval"
    extra = [x for k, v in keys.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    r1("eval", "--model", model, "--dataset", prompts, "--template", "chatml", "--samples", K,
       "--max-new-tokens", SAMPLING["max_new_tokens"], "--temperature", SAMPLING["temperature"],
       "--top-p", SAMPLING["top_p"], "--set", f"top_k={SAMPLING['top_k']}", "--set", f"min_p={SAMPLING['min_p']}",
       "--set", f"stop={json.dumps([STOP])}", "--seed", SEED, "--batch-size", 2, "--out", out, "--quiet", *extra)
    con = sqlite3.connect(out / "eval.db")
    rows = con.execute("SELECT prompt_index, sample_index, completion, completion_tokens, finish_reason "
                       "FROM rollouts").fetchall()
    con.close()
    return {(p, s): (text, n, finish) for p, s, text, n, finish in rows}


def from_sample(model, prompts, tmp_path, **keys):
    config = {"model": str(model), "dataset": str(prompts), "template": "chatml", "samples_per_prompt": K,
              "max_new_tokens": SAMPLING["max_new_tokens"], "temperature": SAMPLING["temperature"],
              "top_p": SAMPLING["top_p"], "top_k": SAMPLING["top_k"], "min_p": SAMPLING["min_p"],
              "stop": [STOP], "seed": SEED, "batch_size": 3, "output_dir": str(tmp_path / "sample"),
              "save_rejected": True, "filters": [{"filter": "length", "min_tokens": 1}]}
    config.update(keys)
    cfg = tmp_path / "sample.json"
    cfg.write_text(json.dumps(config))
    r1("sample", "--config", cfg, "--quiet")
    out = {}
    for name in ("samples.jsonl", "rejected.jsonl"):
        path = tmp_path / "sample" / name
        for line in path.read_text().splitlines():
            row = json.loads(line)
            index = int(row["prompt_id"].rsplit("-", 1)[1])
            out[(index, row["sample_index"])] = (row["completion"], row["num_tokens"], row["finish_reason"])
    return out


def test_generate_eval_and_sample_draw_the_same_completions(setup, tmp_path):
    model, prompts, n = setup
    generated = from_generate(model, prompts, tmp_path)
    assert len(generated) == n * K
    # The settings matter: stop strings cut some completions, others run to the limit.
    finishes = {finish for _, _, finish in generated.values()}
    assert finishes == {"stop", "length"}, finishes
    assert all(STOP not in text for text, _, _ in generated.values())
    assert len({text for text, _, _ in generated.values()}) > n  # samples of a prompt differ
    assert from_eval(model, prompts, tmp_path) == generated
    assert from_sample(model, prompts, tmp_path) == generated
