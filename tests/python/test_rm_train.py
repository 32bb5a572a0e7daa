"""`r1 rm train` end to end: a tiny causal LM (r1 model init) becomes a reward
model that learns to score a concise answer above a repetitive one, its
checkpoint loads in transformers as *ForSequenceClassification with the same
scores, and TRL's RewardTrainer evaluates it to the same held-out loss and
accuracy. Bad configs are errors naming the key."""
import json
import math
import random
import shutil

import pytest
import torch
from safetensors.torch import load_file

from r1_cli import r1


def pairs(seed, n):
    """Chosen: 'a + b = c'. Rejected: the same answer repeated 2-4 times."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        answer = f"{a} + {b} = {a + b}"
        rows.append({"chosen": answer, "rejected": answer + f" {a + b}" * rng.randint(2, 4)})
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rm")
    r1("model", "init", "--arch", "qwen2", "--preset", "tiny", "--out", tmp / "lm", "--seed", "3")
    config = {
        "model_name_or_path": str(tmp / "lm"),
        "train_file": str(write_jsonl(tmp / "train.jsonl", pairs(1, 256))),
        "eval_file": str(write_jsonl(tmp / "eval.jsonl", pairs(2, 48))),
        "output_dir": str(tmp / "out"),
        "learning_rate": 1e-3,
        "max_steps": 60,
        "per_device_train_batch_size": 8,
        "logging_steps": 10,
        "save_steps": 30,
        "center_rewards_coefficient": 0.01,
        "seed": 5,
    }
    (tmp / "rm.json").write_text(json.dumps(config))
    result = r1("rm", "train", "--config", tmp / "rm.json", threads=2)
    return tmp, json.loads(result.stdout), result.stderr


def test_the_reward_model_learns_the_preference(trained):
    tmp, summary, log = trained
    print(log)
    assert summary["global_step"] == 60
    assert summary["eval_pairs"] == 48
    assert summary["eval_accuracy"] >= 0.95, summary
    lines = [json.loads(l) for l in (tmp / "out" / "metrics.jsonl").read_text().splitlines()]
    steps = [l for l in lines if "loss" in l]
    assert [l["step"] for l in steps] == [10, 20, 30, 40, 50, 60]
    assert steps[-1]["loss"] < steps[0]["loss"]
    assert {"accuracy", "margin", "mean_reward", "learning_rate", "grad_norm"} <= set(steps[0])
    assert "256 preference pairs, 0 left out" in log


def test_saved_reward_model_loads_in_transformers_with_our_scores(trained, tmp_path):
    from transformers import AutoModelForSequenceClassification

    tmp, summary, _ = trained
    model = AutoModelForSequenceClassification.from_pretrained(summary["model"]).eval()
    assert type(model).__name__ == "Qwen2ForSequenceClassification" and model.config.num_labels == 1
    rows = [[5, 9, 14, 30], [7, 8], [40, 41, 42, 43, 44, 45, 46]]
    write_jsonl(tmp_path / "rows.jsonl", [{"ids": r} for r in rows])
    r1("rm", "score", "--model", summary["model"], "--input", tmp_path / "rows.jsonl", "--output",
       tmp_path / "scores.jsonl")
    ours = torch.tensor([json.loads(l)["score"] for l in (tmp_path / "scores.jsonl").read_text().splitlines()])
    pad = model.config.pad_token_id
    length = max(map(len, rows))
    ids = torch.tensor([r + [pad] * (length - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows])
    with torch.no_grad():
        theirs = model(input_ids=ids, attention_mask=mask).logits.squeeze(-1)
    assert (ours - theirs).abs().max().item() < 1e-4, (ours, theirs)


def test_trl_reward_trainer_evaluates_our_checkpoint_the_same(trained):
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    tmp, summary, _ = trained
    args = RewardConfig(output_dir=str(tmp / "trl"), report_to="none", use_cpu=True, bf16=False,
                        per_device_eval_batch_size=8, center_rewards_coefficient=0.01)
    trainer = RewardTrainer(model=summary["model"], args=args, train_dataset=Dataset.from_list(pairs(1, 8)),
                            eval_dataset=Dataset.from_list(pairs(2, 48)))
    metrics = trainer.evaluate()
    print(metrics, summary)
    assert abs(metrics["eval_loss"] - summary["eval_loss"]) < 1e-4
    assert abs(metrics["eval_accuracy"] - summary["eval_accuracy"]) < 1e-6
    assert abs(metrics["eval_margin"] - summary["eval_margin"]) < 1e-3


def test_resume_ends_where_an_uninterrupted_run_ends(trained, tmp_path):
    """The run's step-30 checkpoint, resumed in a fresh folder, ends at the same weights."""
    tmp, summary, _ = trained
    shutil.copytree(tmp / "out" / "checkpoint-30", tmp_path / "resumed" / "checkpoint-30")
    config = json.loads((tmp / "rm.json").read_text())
    config["output_dir"] = str(tmp_path / "resumed")
    (tmp_path / "rm.json").write_text(json.dumps(config))
    result = r1("rm", "train", "--config", tmp_path / "rm.json", "--resume", threads=2)
    resumed = json.loads(result.stdout)
    assert resumed["global_step"] == 60
    ours = load_file(tmp_path / "resumed" / "model" / "model.safetensors")
    straight = load_file(tmp / "out" / "model" / "model.safetensors")
    for name, t in straight.items():
        assert torch.equal(ours[name], t), name


def test_bad_configs_name_the_key(tmp_path):
    (tmp_path / "rm.json").write_text(json.dumps({"model_name_or_path": "m", "train_file": "t", "output_dir": "o",
                                                  "center_rewards_coefficient": -1}))
    result = r1("rm", "train", "--config", tmp_path / "rm.json", check=False)
    assert result.returncode == 1
    assert "field 'center_rewards_coefficient' must be >= 0 or null" in result.stderr
    result = r1("rm", "train", "--config", tmp_path / "rm.json", "--set", "packing=true", check=False)
    assert result.returncode == 1 and "unknown key 'packing'" in result.stderr
    help_text = r1("rm", "train", "--help-config").stdout
    assert "center_rewards_coefficient" in help_text and "learning_rate" in help_text


def test_two_ranks_equal_one_process(tmp_path):
    """torchrun with two one-thread ranks (Gloo): each runs one of a step's two micro-batches; the weights equal
    one one-thread process's, byte for byte, and rank 0 alone writes the run folder."""
    import os
    import subprocess

    from r1_cli import R1
    from test_rl_ranks import TORCHRUN, free_port

    r1("model", "init", "--arch", "qwen2", "--preset", "tiny", "--out", tmp_path / "lm", "--seed", "4")
    base = {"model_name_or_path": str(tmp_path / "lm"),
            "train_file": str(write_jsonl(tmp_path / "train.jsonl", pairs(3, 20))),
            "learning_rate": 1e-3, "max_steps": 3, "per_device_train_batch_size": 4,
            "gradient_accumulation_steps": 2, "center_rewards_coefficient": 0.01, "ddp_timeout": 30}
    for name in ("one", "two"):
        (tmp_path / f"{name}.json").write_text(json.dumps({**base, "output_dir": str(tmp_path / name)}))
    r1("rm", "train", "--config", tmp_path / "one.json", threads=1)
    result = subprocess.run([TORCHRUN, "--nproc-per-node", "2", "--master-port", str(free_port()), "--no-python", R1,
                             "rm", "train", "--config", str(tmp_path / "two.json")], capture_output=True, text=True,
                            timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.count("saved final model") == 1
    one = (tmp_path / "one" / "model" / "model.safetensors").read_bytes()
    assert (tmp_path / "two" / "model" / "model.safetensors").read_bytes() == one


def test_an_rm_stage_in_a_recipe(tmp_path):
    """A recipe stage of type rm trains a reward model whose folder later stages can name."""
    r1("model", "init", "--arch", "qwen2", "--preset", "tiny", "--out", tmp_path / "lm", "--seed", "4")
    recipe = {"name": "rm-only", "stages": [{"name": "rm", "type": "rm", "config": {
        "model_name_or_path": str(tmp_path / "lm"),
        "train_file": str(write_jsonl(tmp_path / "train.jsonl", pairs(5, 32))),
        "eval_file": str(write_jsonl(tmp_path / "eval.jsonl", pairs(6, 16))),
        "learning_rate": 1e-3, "max_steps": 8, "per_device_train_batch_size": 8, "logging_steps": 4}}]}
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    r1("pipeline", "run", tmp_path / "recipe.json", "--out", tmp_path / "run", threads=2)
    done = json.loads((tmp_path / "run" / "rm" / ".done").read_text())
    metrics = done.get("metrics", done)
    assert metrics["steps"] == 8 and 0 <= metrics["eval_accuracy"] <= 1, done
    assert (tmp_path / "run" / "rm" / "model" / "config.json").exists()
    config = json.loads((tmp_path / "run" / "rm" / "model" / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForSequenceClassification"]


def test_a_reward_spec_entry_scores_with_the_model_and_routes_by_field(trained, tmp_path):
    """{"model": DIR} in a reward spec: each general row's conversation (user prompt, assistant completion,
    rendered by the model's chat template) scored as transformers scores it, sigmoid-normalised; "when" routes
    the task rows to a rule instead."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    _, summary, _ = trained
    spec = {"rewards": [
        {"model": summary["model"], "name": "rm", "params": {"normalize": "sigmoid", "batch_size": 2},
         "when": {"field": "kind", "equals": "general"}},
        {"checker": "tag_count", "when": {"field": "kind", "equals": "task"}}]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    rows = [{"kind": "general", "prompt": "What is 12 + 5?", "completion": "12 + 5 = 17"},
            {"kind": "task", "prompt": "x", "completion": "<think>\nno\n</think>\n"},
            {"kind": "general", "prompt": "What is 12 + 5?", "completion": "12 + 5 = 17 17 17 17"},
            {"kind": "general", "prompt": "Add 40 and 2.", "completion": "40 + 2 = 42", "system": "Be brief."}]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    r1("reward", "score", "--spec", tmp_path / "spec.json", "--input", tmp_path / "rows.jsonl", "--output",
       tmp_path / "out.jsonl")
    out = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text().splitlines()]
    model = AutoModelForSequenceClassification.from_pretrained(summary["model"]).eval()
    tok = AutoTokenizer.from_pretrained(summary["model"])
    for row, got in zip(rows, out):
        if row["kind"] == "task":
            assert got["details"]["rm"] == {"skipped": "when"} and got["components"]["rm"] == 0.0
            assert got["components"]["tag_count"] == 0.5
            continue
        messages = ([{"role": "system", "content": row["system"]}] if "system" in row else []) + [
            {"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["completion"]}]
        ids = tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        with torch.no_grad():
            raw = model(input_ids=torch.tensor([ids])).logits[0, 0].item()
        assert got["details"]["rm"]["tokens"] == len(ids)
        assert abs(got["details"]["rm"]["raw"] - raw) < 1e-4, (got, raw)
        assert abs(got["components"]["rm"] - 1 / (1 + math.exp(-raw))) < 1e-6
    # The concise answer beats the repetitive one, as trained.
    assert out[0]["components"]["rm"] > out[2]["components"]["rm"]


def test_grpo_with_a_reward_model(trained):
    """r1 rl with the trained reward model as its reward (sigmoid-normalised): every rollout's reward is its rm
    component, in (0, 1), and the metrics carry it."""
    import sqlite3

    tmp, summary, _ = trained
    config = {"model_name_or_path": str(tmp / "lm"), "output_dir": str(tmp / "rl"),
              "dataset": {"task": "arithmetic", "n": 16, "max_digits": 2},
              "reward": {"rewards": [{"model": summary["model"], "name": "rm", "params": {"normalize": "sigmoid"}}]},
              "num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 8,
              "learning_rate": 1e-4, "bf16": False, "max_steps": 2, "logging_steps": 1, "save_steps": 10, "seed": 3}
    (tmp / "rl.json").write_text(json.dumps(config))
    r1("rl", "--config", tmp / "rl.json", threads=2)
    logged = [json.loads(l) for l in (tmp / "rl" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in logged if "rewards/rm/mean" in m] == [1, 2]
    with sqlite3.connect(tmp / "rl" / "rollouts.db") as con:
        rows = con.execute("SELECT c.value, r.total_reward FROM reward_components c JOIN rollouts r "
                           "ON r.id = c.rollout_id WHERE c.name = 'rm'").fetchall()
    assert len(rows) == 16
    assert all(0 < value < 1 and value == total for value, total in rows)
    assert len({round(v, 6) for v, _ in rows}) > 1


JUDGE_TEMPLATE = "Question: {prompt}\nAnswer: {completion}\nIs the answer right? Reply [[YES]] or [[NO]]."


def judge_rows():
    return [{"prompt": f"What is {a} + {b}?", "completion": f"{a} + {b} = {a + b}"} for a, b in [(12, 5), (40, 2)]]


def score_with_judge(judge_dir, tmp_path, name):
    spec = {"rewards": [{"judge": str(judge_dir), "name": "judge", "template": JUDGE_TEMPLATE,
                         "params": {"max_new_tokens": 32, "batch_size": 1}}]}
    (tmp_path / f"{name}.json").write_text(json.dumps(spec))
    write_jsonl(tmp_path / "rows.jsonl", judge_rows())
    r1("reward", "score", "--spec", tmp_path / f"{name}.json", "--input", tmp_path / "rows.jsonl", "--output",
       tmp_path / f"{name}.jsonl")
    return [json.loads(l) for l in (tmp_path / f"{name}.jsonl").read_text().splitlines()]


def test_an_llm_judge_gives_its_verdict_and_a_status_when_it_has_none(trained, tmp_path):
    """A judge fine-tuned here to answer "[[YES]]" scores 1 with status ok; the untrained base writes no verdict:
    reward 0 and status no_verdict per row, not an error. Greedy, so the same outputs every run."""
    tmp, _, _ = trained
    train = [{"messages": [{"role": "user", "content": JUDGE_TEMPLATE.format(**row)},
                           {"role": "assistant", "content": "Checked. [[YES]]"}]} for row in judge_rows() * 16]
    config = {"model_name_or_path": str(tmp / "lm"), "train_file": str(write_jsonl(tmp_path / "judge.jsonl", train)),
              "output_dir": str(tmp_path / "judge"), "chat_template": "chatml", "learning_rate": 3e-3,
              "max_steps": 60, "per_device_train_batch_size": 8, "save_steps": 0, "logging_steps": 20}
    (tmp_path / "sft.json").write_text(json.dumps(config))
    r1("sft", "--config", tmp_path / "sft.json", threads=2)
    for got in score_with_judge(tmp_path / "judge" / "model", tmp_path, "trained"):
        assert got["details"]["judge"]["status"] == "ok", got
        assert got["total"] == 1.0 and "[[YES]]" in got["details"]["judge"]["output"]
    base = score_with_judge(tmp / "lm", tmp_path, "base")
    assert base == score_with_judge(tmp / "lm", tmp_path, "again")
    for got in base:
        assert got["details"]["judge"]["status"] == "no_verdict" and got["total"] == 0.0, got


def test_stage_four_routes_reasoning_prompts_to_rules_and_general_ones_to_a_reward_model_trained_before_it(
        tmp_path):
    """R1's stage 4 as a recipe: generated preference pairs (a `data` stage) train a reward model (an `rm`
    stage); a `data` stage mixes reasoning and general prompts; RL scores reasoning rows with the math rule and
    general rows with that reward model ("when" on the rows' "kind"); an eval reports the model's mean score.
    The run is checked before its first stage although the reward model does not exist yet."""
    import sqlite3

    r1("model", "init", "--arch", "qwen2", "--preset", "tiny", "--out", tmp_path / "lm", "--seed", "6")
    task = {"task": "arithmetic", "min_digits": 2, "max_digits": 2, "ops": "+-"}
    rm_entry = {"model": "${stages.rm.model}", "name": "rm", "params": {"normalize": "sigmoid",
                                                                          "chat_template": "none"}}
    recipe = {"name": "stage-four", "stages": [
        {"name": "pairs", "type": "data", "config": {"parts": [dict(task, kind="general", n=64, form="preferences")]}},
        {"name": "rm", "type": "rm", "config": {
            "model_name_or_path": str(tmp_path / "lm"), "train_file": "${stages.pairs.file}",
            "learning_rate": 1e-3, "max_steps": 4, "per_device_train_batch_size": 8, "logging_steps": 2}},
        {"name": "prompts", "type": "data", "config": {"parts": [
            dict(task, n=8, seed=1, form="rows"), dict(task, kind="general", n=8, seed=2, form="rows")]}},
        {"name": "rl", "type": "rl", "config": {
            "model_name_or_path": str(tmp_path / "lm"), "dataset": "${stages.prompts.file}",
            "reward": {"rewards": [
                {"checker": "math", "name": "accuracy", "when": {"field": "kind", "equals": "reasoning"}},
                dict(rm_entry, when={"field": "kind", "equals": "general"})]},
            "num_generations": 4, "per_device_train_batch_size": 16, "max_completion_length": 8,
            "learning_rate": 1e-4, "bf16": False, "max_steps": 2, "logging_steps": 1, "save_steps": 10,
            "seed": 3}},
        {"name": "eval_general", "type": "eval", "config": {
            "model": "${stages.rl.model}", "dataset": dict(task, kind="general", split="heldout", n=8),
            "reward": {"rewards": [{"checker": "math", "name": "accuracy"}, rm_entry]},
            "max_new_tokens": 8}}]}
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    assert "ok" in r1("pipeline", "validate", tmp_path / "recipe.json").stdout
    result = r1("pipeline", "run", tmp_path / "recipe.json", "--out", tmp_path / "run", threads=2)
    assert "16 rows" in result.stdout + result.stderr
    with sqlite3.connect(tmp_path / "run" / "rl" / "rollouts.db") as con:
        rows = con.execute("SELECT p.prompt, c.name, c.value FROM reward_components c JOIN rollouts r "
                           "ON r.id = c.rollout_id JOIN prompts p USING (prompt_index)").fetchall()
    general = [(name, value) for prompt, name, value in rows if "Briefly: Compute" in prompt]
    reasoning = [(name, value) for prompt, name, value in rows if "Briefly" not in prompt]
    assert general and reasoning
    # A component that does not apply to a row adds 0; the reward model's sigmoid score is in (0, 1).
    assert all(0 < v < 1 for name, v in general if name == "rm")
    assert all(v == 0 for name, v in general if name == "accuracy")
    assert all(v == 0 for name, v in reasoning if name == "rm")
    done = json.loads((tmp_path / "run" / "eval_general" / ".done").read_text())
    metrics = done.get("metrics", done)
    assert 0 < metrics["components"]["rm"] < 1, metrics


def test_a_real_instruct_model_as_judge_gets_a_status_per_row(tmp_path):
    """SmolLM2-135M-Instruct (real weights) as the judge: what a real model writes, not our hand-written
    outputs. Every row gets a status; a row without a verdict scores 0 and keeps the judge's words."""
    import os

    model = os.path.join(os.environ.get("R1_ROOT", "."), ".cache", "smollm2")
    if not os.path.exists(os.path.join(model, "config.json")):
        pytest.skip("SmolLM2 was not converted by scripts/setup.sh")
    rows = [{"prompt": "What is 12 + 5?", "completion": c, "answer": "17"} for c in ("12 + 5 = 17", "12 + 5 = 19")]
    rows += [{"prompt": "What is the capital of France?", "completion": c, "answer": "Paris"} for c in ("Paris", "Rome")]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    spec = {"rewards": [{"judge": model, "name": "judge", "template": "Question: {prompt}\nReference answer: {answer}\n"
                         "Student answer: {completion}\nIs the student answer correct? Reply with [[YES]] or [[NO]].",
                         "params": {"max_new_tokens": 32}}]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    r1("reward", "score", "--spec", tmp_path / "spec.json", "--input", tmp_path / "rows.jsonl", "--output",
       tmp_path / "out.jsonl", threads=2)
    out = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(out) == len(rows)
    for row in out:
        details = row["details"]["judge"]
        assert details["status"] in ("ok", "no_verdict", "out_of_range"), details
        assert details["output"].strip(), details
        if details["status"] == "no_verdict":
            assert row["components"]["judge"] == 0.0 and "verdict" not in details
