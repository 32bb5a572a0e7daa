"""`r1 eval` end to end on a tiny random model.

- eval.json agrees with eval.db: pass@1, pass@k, mean length, truncation and
  component means recomputed here from the rollout rows with sqlite3, the
  step-metrics row, and run_info's config; `r1 rollouts summary` reads it.
- Correct answers are counted: a first run gives each completion's extracted
  answer (via `r1 reward score`); a second run with the same seed samples the
  same completions, now with some of those answers as gold, and its pass@1,
  pass@k and maj@k equal what `r1 reward score` says of the same completions.
- A 5-row slice of GSM8K from the shared data keeps its gold answers.
- Bad input (unknown dataset, missing model, bad JSONL row, unknown key)
  exits 1 with a message and writes nothing, not even over an earlier run.
"""
import json
import os
import sqlite3

import pytest

from paths import data_file
from r1_cli import r1, write_jsonl

COUNTDOWN = {"task": "countdown", "split": "heldout", "n": 6, "min_numbers": 3, "max_numbers": 3, "max_number": 9,
             "max_target": 30}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    corpus = d / "corpus.jsonl"
    r1("data", "corpus", "--task", "countdown", "--n", 200, "--min-numbers", 3, "--max-numbers", 3, "--max-number", 9,
       "--max-target", 30, "--out", corpus)
    r1("model", "init", "--arch", "qwen2", "--preset", "tiny", "--out", d / "model", "--corpus", corpus,
       "--tokenizer-vocab", 300, "--seed", 3)
    return d / "model"


def run_eval(model, out, *args):
    r1("eval", "--model", model, "--out", out, "--quiet", "--threads", 1, *args)
    return json.loads((out / "eval.json").read_text())


def db_rows(out):
    con = sqlite3.connect(out / "eval.db")
    rows = con.execute(
        "SELECT r.group_index, r.sample_index, r.prompt_index, r.completion, r.completion_tokens, r.finish_reason, "
        "r.total_reward, c.value FROM rollouts r JOIN reward_components c ON c.rollout_id = r.id "
        "WHERE c.name = 'accuracy' ORDER BY r.group_index, r.sample_index").fetchall()
    metrics = dict(con.execute("SELECT name, value FROM step_metrics WHERE step = 0").fetchall())
    config = json.loads(con.execute("SELECT config_json FROM run_info").fetchone()[0])
    answers = dict(con.execute("SELECT prompt_index, reference_answer FROM prompts").fetchall())
    con.close()
    return rows, metrics, config, answers


def check_consistent(summary, out):
    rows, metrics, config, _ = db_rows(out)
    n, k = summary["examples"], summary["samples"]
    assert len(rows) == n * k
    assert sorted((r[0], r[1]) for r in rows) == [(g, s) for g in range(n) for s in range(k)]
    groups = [[r for r in rows if r[0] == g] for g in range(n)]
    correct = [[r[7] >= 1.0 for r in g] for g in groups]
    pass1 = sum(sum(c) / k for c in correct) / n
    passk = sum(any(c) for c in correct) / n
    assert summary["pass@1"] == pytest.approx(pass1, abs=1e-12)
    assert summary["pass@k"] == pytest.approx(passk, abs=1e-12)
    assert summary["mean_completion_tokens"] == pytest.approx(sum(r[4] for r in rows) / len(rows))
    assert summary["truncated_fraction"] == pytest.approx(sum(r[5] == "length" for r in rows) / len(rows))
    assert summary["components"]["accuracy"] == pytest.approx(sum(r[7] for r in rows) / len(rows))
    assert summary["reward_mean"] == pytest.approx(sum(r[6] for r in rows) / len(rows))
    assert metrics["pass@1"] == pytest.approx(pass1) and metrics["pass@k"] == pytest.approx(passk)
    assert metrics["k"] == k and metrics["examples"] == n
    assert metrics["completions/mean_length"] == pytest.approx(summary["mean_completion_tokens"])
    assert config == summary["config"]
    if summary["maj@k"] is not None:
        assert metrics["maj@k"] == pytest.approx(summary["maj@k"])
        assert summary["maj@k"] <= summary["pass@k"] + 1e-12
    return rows


def test_countdown_summary_matches_the_db(model, tmp_path):
    out = tmp_path / "countdown"
    summary = run_eval(model, out, "--dataset", "countdown:heldout", "--set", "dataset=" + json.dumps(COUNTDOWN),
                       "--samples", 4, "--max-new-tokens", 24, "--temperature", 1.0, "--batch-size", 4)
    assert summary["dataset"] == "countdown:heldout"
    assert (summary["examples"], summary["total_examples"], summary["samples"]) == (6, 6, 4)
    assert summary["maj@k"] is not None  # countdown answers can be voted on
    assert summary["config"]["temperature"] == 1.0 and summary["config"]["top_p"] == 0.95
    assert summary["config"]["reward"]["rewards"][0]["checker"] == "countdown"
    rows = check_consistent(summary, out)
    assert len({r[3] for r in rows}) > 1  # sampled, not one completion repeated
    assert sorted(os.listdir(out)) == ["eval.db", "eval.json"]
    shown = r1("rollouts", "--db", out / "eval.db", "summary").stdout
    assert "countdown:heldout" in shown and "24" in shown


def score(tmp_path, name, rows):
    """`r1 reward score` with the math checker: (extracted answer, score) per row."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"rewards": [{"checker": "math", "name": "accuracy"}]}))
    out = r1("reward", "score", "--spec", spec, "--input", write_jsonl(tmp_path / name, rows)).stdout
    return [(r["details"]["accuracy"]["extracted"], r["components"]["accuracy"]) for r in map(json.loads,
                                                                                          out.splitlines())]


def test_correct_answers_are_counted(model, tmp_path):
    prompts = [f"Compute {a} + {b}" for a, b in [(3, 4), (12, 9), (5, 50), (7, 7), (31, 8), (2, 66), (40, 4), (9, 1)]]
    k, sampling = 2, ["--samples", 2, "--temperature", 1.0, "--seed", 5, "--max-new-tokens", 24]
    run_eval(model, tmp_path / "first", "--dataset", write_jsonl(tmp_path / "q.jsonl", [
        {"prompt": p, "answer": "0"} for p in prompts]), *sampling)
    rows, _, _, _ = db_rows(tmp_path / "first")
    completions = [r[3] for r in rows]
    # The answers the math checker finds; half the prompts get one of them as gold.
    extracted = [e for e, _ in score(tmp_path, "c.jsonl", [{"completion": c, "answer": "0"} for c in completions])]
    found = [next((e for e in extracted[i * k:(i + 1) * k] if e), None) for i in range(len(prompts))]
    chosen = [i for i, e in enumerate(found) if e][::2]
    assert chosen, f"no completion with a number to test with: {completions}"
    gold = [found[i] if i in chosen else "987654321" for i in range(len(prompts))]
    second = run_eval(model, tmp_path / "second", "--dataset", write_jsonl(tmp_path / "q2.jsonl", [
        {"prompt": p, "answer": g} for p, g in zip(prompts, gold)]), *sampling)
    rows2 = check_consistent(second, tmp_path / "second")
    assert [r[3] for r in rows2] == completions  # same prompts, seed and batches: same samples
    right = [s >= 1 for _, s in score(tmp_path, "c2.jsonl", [{"completion": c, "answer": gold[i // k]}
                                                                for i, c in enumerate(completions)])]
    assert [r[7] >= 1 for r in rows2] == right
    assert sum(right) >= len(chosen)
    per_example = [list(zip(extracted[i * k:(i + 1) * k], right[i * k:(i + 1) * k])) for i in range(len(prompts))]
    assert second["pass@1"] == pytest.approx(sum(right) / len(right))
    assert second["pass@k"] == pytest.approx(sum(any(r for _, r in ex) for ex in per_example) / len(prompts))
    # With two samples the vote goes to the first sample that gave an answer (a tie goes to the first).
    assert second["maj@k"] == pytest.approx(
        sum(next((r for e, r in ex if e), False) for ex in per_example) / len(prompts))


def test_gsm8k_slice_from_shared_data(model, tmp_path):
    out = tmp_path / "gsm8k"
    summary = run_eval(model, out, "--dataset", "gsm8k_test", "--limit", 5, "--samples", 2, "--max-new-tokens", 16)
    with open(data_file("gsm8k/test.jsonl")) as f:
        source = [json.loads(next(f)) for _ in range(5)]
    assert (summary["examples"], summary["samples"]) == (5, 2)
    assert summary["total_examples"] == sum(1 for _ in open(data_file("gsm8k/test.jsonl")))
    assert summary["source"].endswith("gsm8k/test.jsonl")
    check_consistent(summary, out)
    _, _, _, answers = db_rows(out)
    assert [answers[i] for i in range(5)] == [row["answer"].split("####")[-1].strip().replace(",", "")
                                             for row in source]
    con = sqlite3.connect(out / "eval.db")
    prompt0 = con.execute("SELECT prompt FROM prompts WHERE prompt_index = 0").fetchone()[0]
    con.close()
    assert source[0]["question"] in prompt0 and prompt0.endswith("Assistant:")


@pytest.mark.parametrize("case", ["unknown_dataset", "missing_model", "bad_row", "no_answer", "unknown_key"])
def test_bad_input_exits_1_and_writes_nothing(model, tmp_path, case):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "a", "answer": "1"}, {"question": "b", "answer": "2"}])
    # The reward reads 'answer' (math): a row without it fails before anything is sampled.
    no_answer = write_jsonl(tmp_path / "no_answer.jsonl", [{"prompt": "a", "answer": "1"}, {"prompt": "b"}])
    args = {"unknown_dataset": ["--model", model, "--dataset", "gsm9k"],
            "missing_model": ["--model", tmp_path / "no_model", "--dataset", "countdown:heldout"],
            "bad_row": ["--model", model, "--dataset", bad],
            "no_answer": ["--model", model, "--dataset", no_answer],
            "unknown_key": ["--model", model, "--dataset", "countdown:heldout", "--set", "samplez=2"]}[case]
    message = {"unknown_dataset": "'gsm9k' is neither a built-in dataset",
               "missing_model": "is not a model folder",
               "bad_row": "bad.jsonl:2: field 'prompt' is missing",
               "no_answer": "no_answer.jsonl:2: field 'answer' is missing (for reward 'accuracy')",
               "unknown_key": "unknown key 'samplez'"}[case]
    fresh = r1("eval", *args, "--out", tmp_path / "fresh", check=False)
    assert fresh.returncode == 1
    assert "r1: error: " in fresh.stderr and message in fresh.stderr, fresh.stderr
    assert not (tmp_path / "fresh").exists()
    # An earlier run's outputs stay as they were.
    earlier = tmp_path / "earlier"
    run_eval(model, earlier, "--dataset", "countdown:heldout", "--set", "dataset=" + json.dumps(COUNTDOWN),
             "--limit", 2, "--max-new-tokens", 4)
    before = {name: (earlier / name).read_bytes() for name in os.listdir(earlier)}
    assert r1("eval", *args, "--out", earlier, check=False).returncode == 1
    assert {name: (earlier / name).read_bytes() for name in os.listdir(earlier)} == before
