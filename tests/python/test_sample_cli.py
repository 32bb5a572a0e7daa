"""`r1 sample` (rejection sampling) end to end on a tiny model.

- A tiny model samples a small Countdown set through a lenient filter chain;
  samples.jsonl, rejected.jsonl and report.json must agree with each other
  (counts per filter, coverage, mean lengths), rows carry the task's prompts,
  and `r1 sft` with the same template trains on exactly the kept completions
  (token count checked with the HF tokenizer).
- Decontamination removes a sample whose prompt is a GSM8K test question and
  names the set.
- Config errors (unknown filter, unknown key) exit 1 naming the culprit and
  write nothing.
"""
import collections
import json
import os

import pytest

from paths import data_file
from r1_cli import r1

K = 3
N_PROMPTS = 8


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_json(path, obj):
    path.write_text(json.dumps(obj))
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sample")
    r1("data", "corpus", "--task", "countdown", "--n", "200", "--seed", "1", "--out", str(d / "corpus.jsonl"))
    r1("model", "init", "--arch", "qwen2", "--preset", "tiny", "--out", str(d / "model"), "--corpus",
       str(d / "corpus.jsonl"), "--tokenizer-vocab", "400", "--seed", "1")
    return d / "model"


def sample_config(tmp_path, model_dir, **overrides):
    config = {
        "model": str(model_dir), "dataset": {"task": "countdown", "n": N_PROMPTS, "seed": 3},
        "samples_per_prompt": K, "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 16, "batch_size": 3,
        "seed": 5, "output_dir": str(tmp_path / "out"), "save_rejected": True,
        "filters": [{"filter": "length", "min_tokens": 1}, {"filter": "repetition", "ngram": 2, "max_ratio": 0.95},
                    {"filter": "dedup"}, {"filter": "max_per_prompt", "n": 2}],
    }
    config.update(overrides)
    return write_json(tmp_path / "sample.json", config)


def test_rows_agree_with_the_report_and_feed_sft(tmp_path, model_dir):
    cfg = sample_config(tmp_path, model_dir)
    result = r1("sample", "--config", str(cfg), "--set", "seed=6")
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text())
    assert json.loads(result.stdout) == report
    kept = read_jsonl(out / "samples.jsonl")
    rejected = read_jsonl(out / "rejected.jsonl")

    assert report["prompts"] == N_PROMPTS
    assert report["generated"] == N_PROMPTS * K == len(kept) + len(rejected)
    assert report["kept"] == len(kept)
    # Each filter sees what the previous one left; removals add up.
    remaining = report["generated"]
    for f in report["filters"]:
        assert f["input"] == remaining
        remaining -= f["removed"]
    assert remaining == report["kept"]
    assert [f["filter"] for f in report["filters"]] == ["length", "repetition", "dedup", "max_per_prompt"]
    removed_by = collections.Counter(r["removed_by"] for r in rejected)
    assert {f["filter"]: f["removed"] for f in report["filters"] if f["removed"]} == dict(removed_by)
    assert report["filters"][-1]["removed"] >= N_PROMPTS * (K - 2)  # at most 2 of K stay

    per_prompt = collections.Counter(r["prompt_id"] for r in kept)
    assert report["coverage"]["prompts_with_kept"] == len(per_prompt)
    histogram = collections.Counter(per_prompt.values())
    histogram[0] = N_PROMPTS - len(per_prompt)
    assert {int(k): v for k, v in report["coverage"]["kept_per_prompt"].items()} == \
        {k: v for k, v in histogram.items() if v}
    assert report["mean_completion_tokens"]["kept"] == pytest.approx(
        sum(r["num_tokens"] for r in kept) / len(kept))
    all_rows = kept + rejected
    assert report["truncated"] == sum(r["finish_reason"] == "length" for r in all_rows)
    assert len({r["id"] for r in all_rows}) == len(all_rows)

    # Rows carry the user prompt of their task (not the rendered template).
    tasks = tmp_path / "tasks.jsonl"
    r1("data", "tasks", "--task", "countdown", "--n", str(N_PROMPTS), "--seed", "3", "--out", str(tasks))
    prompts = {t["id"]: t["prompt"] for t in read_jsonl(tasks)}
    for r in kept:
        assert r["prompt"] == prompts[r["prompt_id"]]

    # r1 sft (same template) trains on each kept completion plus eos.
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    expected = sum(len(tok.encode(r["completion"], add_special_tokens=False).ids) + 1 for r in kept)
    sft = write_json(tmp_path / "sft.json", {
        "model_name_or_path": str(model_dir), "train_file": str(out / "samples.jsonl"),
        "output_dir": str(tmp_path / "student"), "chat_template": "r1_zero", "max_steps": 2,
        "per_device_train_batch_size": 4, "save_steps": 0, "logging_steps": 1})
    evaluated = json.loads(r1("sft", "--config", str(sft), "--eval-only").stdout)
    assert evaluated["tokens"] == expected
    trained = json.loads(r1("sft", "--config", str(sft)).stdout)
    assert trained["global_step"] == 2
    assert (tmp_path / "student" / "model" / "model.safetensors").exists()


def test_same_seed_gives_the_same_samples(tmp_path, model_dir):
    runs = []
    for name in ["a", "b"]:
        d = tmp_path / name
        d.mkdir()
        r1("sample", "--config", str(sample_config(d, model_dir)), "--quiet")
        runs.append((d / "out" / "samples.jsonl").read_text())
    assert runs[0] == runs[1]


@pytest.mark.skipif(not os.path.exists(data_file("gsm8k/test.jsonl")), reason="no shared data")
def test_decontamination_removes_an_eval_question(tmp_path, model_dir):
    with open(data_file("gsm8k/test.jsonl")) as f:
        question = json.loads(f.readline())["question"]
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "Reword this: " + question}) + "\n" +
                       json.dumps({"prompt": "Using the numbers [3, 5, 7], create an equation that equals 22."}) + "\n")
    cfg = sample_config(tmp_path, model_dir, dataset=str(prompts), reward=[{"checker": "format_lenient"}],
                        filters=[{"filter": "decontaminate", "ngram": 10, "datasets": ["gsm8k_test", "math500"]}])
    r1("sample", "--config", str(cfg), "--quiet")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    (decon,) = report["filters"]
    assert decon["removed"] == K
    assert decon["details"] == {"gsm8k_test": K}
    kept = read_jsonl(tmp_path / "out" / "samples.jsonl")
    assert len(kept) == K and all(r["prompt"].startswith("Using the numbers") for r in kept)


def test_config_errors_name_the_culprit_and_write_nothing(tmp_path, model_dir):
    cfg = sample_config(tmp_path, model_dir, filters=[{"filter": "dedup"}, {"filter": "no_such_filter"}])
    result = r1("sample", "--config", str(cfg), check=False)
    assert result.returncode == 1
    assert "filters[1]: unknown filter 'no_such_filter'" in result.stderr
    cfg = sample_config(tmp_path, model_dir, sampels_per_prompt=2)
    result = r1("sample", "--config", str(cfg), check=False)
    assert result.returncode == 1
    assert "unknown key 'sampels_per_prompt'" in result.stderr
    result = r1("sample", "--config", str(sample_config(tmp_path, model_dir)), "--set",
                'filters=[{"filter": "length", "max_tokens": 5, "min_tokens": 9}]', check=False)
    assert result.returncode == 1
    assert "(length): max_tokens must be >= min_tokens" in result.stderr
    assert not (tmp_path / "out").exists()
