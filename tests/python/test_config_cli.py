"""One config mechanism in every command.

- `r1 <command> --help-config` prints every key of rl, sft, eval, sample and
  pipeline configs with its type, default and meaning, and exits 0 without
  the command's required options.
- `--set key=value` means the same everywhere: VALUE as JSON when it parses,
  else a string (so `none` is the string "none", `null` is null).
- `device` and `dtype` are keys of every job config.
"""
import json
import re

import pytest

from r1_cli import r1

ENTRY = re.compile(r"^  (\w+) \((.*?)(?:; default (.*))?\)$", re.M)


def help_keys(*command):
    result = r1(*command, "--help-config")
    return {m.group(1): (m.group(2), m.group(3)) for m in ENTRY.finditer(result.stdout)}, result.stdout


@pytest.mark.parametrize("command", ["rl", "sft", "eval", "sample"])
def test_help_config_lists_every_key_with_its_default(command):
    keys, text = help_keys(command)
    assert keys["device"] == ("a string", '"auto"')
    assert keys["dtype"] == ("a string", '"auto"')
    for name, (_, default) in keys.items():
        # Each entry has its meaning on the next line.
        assert re.search(rf"^  {name} \(.*\)\n      \S", text, re.M), name


def test_rl_help_matches_the_keys_a_config_has(tmp_path):
    config = tmp_path / "rl.json"
    config.write_text(json.dumps({"model_name_or_path": "m", "output_dir": "o", "dataset": "countdown"}))
    printed = json.loads(r1("rl", "--config", config, "--print-config").stdout)
    keys, _ = help_keys("rl")
    assert set(printed) <= set(keys)
    assert set(keys) - set(printed) == {"bf16"}  # TRL's alias of dtype: read, never written
    assert keys["num_generations"] == ("an integer", "8")
    assert keys["gradient_checkpointing"] == ("true or false", "false")
    assert keys["epsilon_high"] == ("a number or null", "null")
    # The defaults shown are those of the chosen preset.
    keys, _ = help_keys("rl", "--preset", "r1_zero")
    assert keys["num_generations"][1] == "16"


def test_pipeline_help_lists_every_stage_type():
    _, text = help_keys("pipeline")
    for stage_type in ["pretrain-toy", "sft", "distill", "rl", "sample", "eval"]:
        assert f"Config keys of a {stage_type} stage" in text
    # A required key says so in place of a default (ConfigFields::required()).
    assert "  corpus (a task object; required)" in text


def test_set_is_json_else_a_string(tmp_path):
    config = tmp_path / "rl.json"
    config.write_text(json.dumps({"model_name_or_path": "m", "output_dir": "o", "dataset": "countdown",
                                  "save_total_limit": 2}))
    printed = json.loads(r1("rl", "--config", config, "--print-config", "--set", "run_name=none",
                            "--set", "save_total_limit=null", "--set", "bf16=false").stdout)
    assert printed["run_name"] == "none"
    assert printed["save_total_limit"] is None
    assert printed["dtype"] == "float32"
    bad = r1("rl", "--config", config, "--print-config", "--set", "epsilon_high=none", check=False)
    assert bad.returncode == 1
    assert "override 'epsilon_high=none': field 'epsilon_high' must be a number or null" in bad.stderr


@pytest.mark.parametrize("command, body", [
    ("sft", {"model_name_or_path": "m", "train_file": "t.jsonl", "output_dir": "o"}),
    ("sample", {"model": "m", "dataset": "countdown", "output_dir": "o"}),
])
def test_set_gives_the_same_errors_in_every_command(tmp_path, command, body):
    config = tmp_path / f"{command}.json"
    config.write_text(json.dumps(body))
    result = r1(command, "--config", config, "--set", "device=gpu", check=False)
    assert result.returncode == 1
    assert "field 'device': must be cpu, cuda, cuda:N or auto, got 'gpu'" in result.stderr
    result = r1(command, "--config", config, "--set", "seed=none", check=False)
    assert result.returncode == 1
    assert "override 'seed=none': field 'seed' must be an integer" in result.stderr


def test_a_gpu_that_is_not_there_is_an_error_naming_the_key(tmp_path):
    # cuda:99 is never there: the recipe fails its checks, naming the stage's key, before anything runs.
    recipe = tmp_path / "gpu.json"
    recipe.write_text(json.dumps({"stages": [{"name": "e", "type": "eval", "config": {
        "model": str(tmp_path), "dataset": "countdown:heldout", "device": "cuda:99"}}]}))
    result = r1("pipeline", "validate", recipe, check=False)
    assert result.returncode == 1
    assert f"{recipe}: stages[0].config: field 'device': 'cuda:99' names a CUDA GPU, but" in result.stderr


def refused_before_anything_runs(tmp_path, command, sampling_json, sampling_flags):
    """Runs `command` on a model folder that is not there with the sampling
    settings given as config keys (`sampling_json`, for rl, eval and sample)
    or as generate's flags; asserts it fails at its config check (exit 1,
    no output folder made) and returns its stderr."""
    out, absent = tmp_path / "out", str(tmp_path / "absent")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "1 + 1?"}) + "\n")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "rl": {"model_name_or_path": absent, "output_dir": str(out), "dataset": "countdown"},
        "sample": {"model": absent, "dataset": "countdown", "output_dir": str(out)},
    }.get(command, {})))
    overrides = [x for k, v in sampling_json.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    args = {
        "rl": ["--config", config, *overrides],
        "eval": ["--model", absent, "--dataset", "countdown:heldout", "--out", out, *overrides],
        "sample": ["--config", config, *overrides],
        "generate": ["--model", absent, "--prompts", prompts, "--output", out, *sampling_flags],
    }[command]
    result = r1(command, *args, check=False)
    assert result.returncode == 1, result.stderr
    assert not out.exists()
    return result.stderr


@pytest.mark.parametrize("command", ["rl", "eval", "sample", "generate"])
def test_sampling_keys_are_checked_alike_in_every_command(tmp_path, command):
    # One check (model/sampling_options.h) for every command that samples.
    stderr = refused_before_anything_runs(tmp_path, command, {"min_p": 1.5}, ["--min-p", "1.5"])
    assert "field 'min_p' must be in [0, 1] (1 keeps only the most likely tokens), got 1.5" in stderr


def test_min_p_1_is_accepted_as_vllm_and_trl_accept_it(tmp_path):
    config = tmp_path / "rl.json"
    config.write_text(json.dumps({"model_name_or_path": "m", "output_dir": "o", "dataset": "countdown"}))
    printed = json.loads(r1("rl", "--config", config, "--print-config", "--set", "min_p=1").stdout)
    assert printed["min_p"] == 1.0


@pytest.mark.parametrize("command", ["eval", "sample", "generate"])
def test_an_empty_stop_string_is_an_error_in_every_command(tmp_path, command):
    stderr = refused_before_anything_runs(tmp_path, command, {"stop": ["</answer>", ""]},
                                          ["--stop", "</answer>", "--stop", ""])
    assert "field 'stop' must not hold an empty string" in stderr
