"""`r1 pipeline` end to end on a tiny recipe (pretrain-toy -> rl -> eval).

- Bad recipes (a reference to a missing stage or output, a cycle, a forward
  reference, an unknown stage type) are rejected before anything runs, and the
  error names the offending key.
- A run marks every stage done, `status` shows it, report.json holds each
  stage's metrics, and a rerun skips every stage and changes nothing.
- A run killed with SIGKILL in the middle of its rl stage (after the first
  checkpoint) and run again resumes that stage: its rl metrics.jsonl (all but
  timings) and final eval.json equal those of an uninterrupted run in another
  run folder.
- A rerun with a changed config of a finished stage is refused, naming the key,
  and a second runner on a folder in use is refused.
"""
import json
import xml.etree.ElementTree as ET
import pathlib
import signal
import subprocess
import time

import pytest

from r1_cli import R1, r1


TASK = {"task": "arithmetic", "max_digits": 1, "ops": "+-"}
RECIPE = {
    "name": "tiny-test",
    "stages": [
        {"name": "base", "type": "pretrain-toy",
         "config": {"corpus": dict(TASK, n=120, seed=1), "tokenizer_vocab": 300, "seed": 5,
                    "sft": {"learning_rate": 0.003, "max_steps": 12, "per_device_train_batch_size": 8,
                            "save_steps": 6, "logging_steps": 4}}},
        {"name": "rl", "type": "rl",
         "config": {"model_name_or_path": "${stages.base.model}", "dataset": dict(TASK, n=40, seed=2),
                    "reward": {"rewards": [{"checker": "math", "name": "accuracy"},
                                           {"checker": "format_lenient", "name": "format", "weight": 0.5}]},
                    "num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 24,
                    "learning_rate": 5e-4, "beta": 0.02, "bf16": False, "max_steps": 10, "save_steps": 2,
                    "logging_steps": 1, "seed": 11}},
        {"name": "eval", "type": "eval",
         "config": {"model": "${stages.rl.model}", "dataset": dict(TASK, split="heldout", n=12),
                    "max_new_tokens": 16, "batch_size": 6}},
    ],
}


SVG = "{http://www.w3.org/2000/svg}"


def write_recipe(path, recipe):
    path.write_text(json.dumps(recipe, indent=1))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("pipeline")


@pytest.fixture(scope="module")
def full_run(work):
    """An uninterrupted run of the tiny recipe."""
    recipe = write_recipe(work / "tiny.json", RECIPE)
    run = work / "full"
    result = r1("pipeline", "run", str(recipe), "--out", str(run))
    return recipe, run, result


def edited(change):
    recipe = json.loads(json.dumps(RECIPE))
    change(recipe["stages"])
    return recipe


def set_key(stage, key, value):
    def change(stages):
        stages[stage]["config"][key] = value
    return change


@pytest.mark.parametrize("change, message", [
    (set_key(1, "model_name_or_path", "${stages.pretrain.model}"),
     "stages[1].config.model_name_or_path: references unknown stage 'pretrain'"),
    (set_key(2, "model", "${stages.rl.samples}"),
     "stages[2].config.model: stage 'rl' (rl) has no output 'samples'"),
    (set_key(1, "model_name_or_path", "${stages.eval.output_dir}"),
     "stages[1].config.model_name_or_path: references stage 'eval', which forms a cycle: rl -> eval -> rl"),
    (lambda s: s[0]["config"]["corpus"].update(path="${stages.eval.eval}"),
     "stages[0].config.corpus.path: references stage 'eval', which forms a cycle: base -> eval -> rl -> base"),
    (lambda s: s[2]["config"].update(model="/m", dataset="${stages.eval.db}"),
     "stages[2].config.dataset: a stage cannot use its own output"),
    (lambda s: s[1].update(type="ppo"), "stages[1].type: unknown stage type 'ppo'"),
    (set_key(1, "num_generation", 4), "stages[1].config"),
    (set_key(2, "model", "${stages.base.model"), "stages[2].config.model: unterminated reference"),
])
def test_bad_recipe_is_rejected_before_anything_runs(work, change, message):
    recipe = write_recipe(work / "bad.json", edited(change))
    for command in (["validate", str(recipe)], ["run", str(recipe), "--out", str(work / "bad_run")]):
        result = r1("pipeline", *command, check=False)
        assert result.returncode == 1
        assert message in result.stderr, result.stderr
        assert str(recipe) in result.stderr
    assert not (work / "bad_run").exists()


def test_missing_input_and_bad_stage_config_fail_before_the_first_stage(work):
    recipe = write_recipe(work / "bad_input.json", edited(lambda s: s[2]["config"].update(model="/nonexistent")))
    result = r1("pipeline", "run", str(recipe), "--out", str(work / "bad_input"), check=False)
    assert result.returncode == 1
    assert "stages[2].config.model: '/nonexistent' is not a model folder" in result.stderr
    assert not (work / "bad_input").exists()


def test_run_marks_stages_done_and_status_shows_them(full_run):
    recipe, run, result = full_run
    for stage in ("base", "rl", "eval"):
        done = json.loads((run / stage / ".done").read_text())
        assert done["stage"] == stage
    report = json.loads((run / "report.json").read_text())
    assert [(s["name"], s["status"]) for s in report["stages"]] == [("base", "done"), ("rl", "done"), ("eval", "done")]
    eval_json = json.loads((run / "eval" / "eval.json").read_text())
    assert report["stages"][2]["metrics"]["pass@1"] == eval_json["pass@1"]
    assert report["stages"][2]["metrics"]["examples"] == 12
    rl_metrics = [json.loads(line) for line in (run / "rl" / "metrics.jsonl").read_text().splitlines()]
    assert report["stages"][1]["metrics"]["steps"] == 10 == rl_metrics[-1]["step"]
    assert report["stages"][1]["metrics"]["reward"] == rl_metrics[-1]["reward"]
    assert report["stages"][0]["metrics"]["steps"] == 12
    # The training stages' curves beside the report (r1 plot's drawing).
    svg = ET.parse(run / "curves.svg").getroot()
    legend = [t.text for g in svg.iter(SVG + "g") if g.get("class") == "legend" for t in g.iter(SVG + "text")]
    assert legend == ["base (pretrain-toy)", "rl (rl)"]
    reward = [g for g in svg.iter(SVG + "g") if g.get("data-metric") == "reward"][0]
    assert len(reward.find(SVG + "polyline").get("points").split()) == len(rl_metrics)
    # The table on stdout, and the same from `status`.
    for text in (result.stdout, r1("pipeline", "status", str(run)).stdout):
        rows = {line.split()[0]: line.split() for line in text.splitlines() if line.split()}
        assert rows["base"][1:3] == ["pretrain-toy", "done"]
        assert rows["rl"][1:3] == ["rl", "done"]
        assert rows["eval"][1:3] == ["eval", "done"]
        assert f"pass@1 {eval_json['pass@1']:.4f}" in text


def test_rerun_skips_every_stage(full_run):
    recipe, run, _ = full_run
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != "report.json"}
    result = r1("pipeline", "run", str(recipe), "--out", str(run))
    assert result.stderr.count("done, skipped") == 3, result.stderr
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != "report.json"}
    assert after == before


def test_rerun_with_another_config_is_refused(full_run):
    recipe, run, _ = full_run
    result = r1("pipeline", "run", str(recipe), "--out", str(run), "--set", "rl.learning_rate=0.001", check=False)
    assert result.returncode == 1
    assert "stage 'rl'" in result.stderr and "learning_rate" in result.stderr


def rl_metrics(run):
    rows = [json.loads(line) for line in (run / "rl" / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if "time" not in k and "per_second" not in k} for r in rows]


def eval_result(run):
    """eval.json without timings and the paths that name the run folder."""
    e = json.loads((run / "eval" / "eval.json").read_text())
    for key in ("generation_seconds", "scoring_seconds", "model"):
        e.pop(key)
    for key in ("model", "output_dir"):
        e["config"].pop(key)
    return e


def test_sigkill_in_rl_then_rerun_equals_uninterrupted_run(work, full_run):
    recipe, full, _ = full_run
    run = work / "killed"
    proc = subprocess.Popen([R1, "pipeline", "run", str(recipe), "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not (run / "recipe.json").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "the run did not start within 300 s"
        time.sleep(0.01)
    # One runner per folder.
    second = r1("pipeline", "run", str(recipe), "--out", str(run), check=False)
    assert second.returncode == 1
    assert "another r1 pipeline run is using this folder" in second.stderr
    while not (run / "rl" / "checkpoint-2").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "no rl checkpoint within 300 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "rl" / ".done").exists(), "the rl stage finished before it was killed"

    status = r1("pipeline", "status", str(run)).stdout
    rows = {line.split()[0]: line.split() for line in status.splitlines() if line.split()}
    assert rows["base"][2] == "done"
    assert rows["rl"][2] == "interrupted"
    assert rows["eval"][2] == "pending"
    assert rows["eval"][3:] == ["-", "-"]  # no time, accuracy or metrics yet

    result = r1("pipeline", "run", str(recipe), "--out", str(run))
    assert "base (pretrain-toy): done, skipped" in result.stderr
    assert "rl (rl), resuming from checkpoint-" in result.stderr
    # Same base model (pretraining is deterministic), same RL, same evaluation.
    assert (run / "base" / "model" / "model.safetensors").read_bytes() == \
        (full / "base" / "model" / "model.safetensors").read_bytes()
    assert rl_metrics(run) == rl_metrics(full)
    assert eval_result(run) == eval_result(full)


def test_builtin_recipes_list_and_validate():
    listed = r1("pipeline", "list").stdout
    for name in ("r1-zero", "r1-zero-tiny", "r1", "r1-tiny", "distill", "distill-tiny"):
        assert name in listed
    for name in ("r1-zero-tiny", "r1-tiny", "distill-tiny"):
        out = r1("pipeline", "validate", name).stdout
        assert "ok" in out.splitlines()[0]
    # A real-model recipe needs its base model.
    result = r1("pipeline", "validate", "r1-zero", check=False)
    assert result.returncode == 1
    assert "--set vars.base_model=" in result.stderr


def test_the_r1_recipe_checks_its_stage_three_and_four_data(tmp_path):
    """The real-model r1 recipe takes non-reasoning SFT rows, general RL prompts and preference pairs as vars;
    validating it loads the general prompts it will tag for routing, so a missing file fails before any stage."""
    import os

    model = os.path.join(os.environ.get("R1_ROOT", "."), ".cache", "smollm2")
    if not os.path.exists(os.path.join(model, "config.json")):
        pytest.skip("SmolLM2 was not converted by scripts/setup.sh")
    (tmp_path / "sft.jsonl").write_text('{"prompt": "Hi", "completion": "Hello!"}\n')
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "Write a haiku about rain."}\n')
    (tmp_path / "pairs.jsonl").write_text('{"prompt": "Hi", "chosen": " Hello!", "rejected": " Go away."}\n')
    sets = ["--set", f"vars.base_model={model}", "--set", f"vars.cold_start_data={tmp_path / 'sft.jsonl'}",
            "--set", f"vars.general_sft_data={tmp_path / 'sft.jsonl'}",
            "--set", f"vars.preference_data={tmp_path / 'pairs.jsonl'}"]
    out = r1("pipeline", "validate", "r1", *sets, "--set", f"vars.general_prompts={tmp_path / 'prompts.jsonl'}")
    assert "ok" in out.stdout.splitlines()[0]
    for stage in ("sft_data", "rm", "rl_prompts", "rl_all"):
        assert stage in out.stdout
    missing = r1("pipeline", "validate", "r1", *sets, "--set", f"vars.general_prompts={tmp_path / 'none.jsonl'}",
                 check=False)
    assert missing.returncode == 1 and "none.jsonl" in missing.stderr
