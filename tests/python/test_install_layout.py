"""No source path is compiled into `r1`: it finds its built-in recipes and the
shared reference data relative to its own executable, from any working
directory, in the build folder and as an installed copy (`cmake --install`).
$R1_RECIPES_DIR and $R1_DATA_DIR, when set, win."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from paths import DATA_DIR
from r1_cli import R1

BUILT_IN = {"r1-zero", "r1-zero-tiny", "r1", "r1-tiny", "distill", "distill-tiny"}


def run(binary, *args, cwd, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("R1_RECIPES_DIR", "R1_DATA_DIR")}
    clean.update(env)
    result = subprocess.run([str(binary), *map(str, args)], cwd=cwd, env=clean, capture_output=True, text=True)
    assert result.returncode == 0, f"{binary} {args} failed:\n{result.stderr}"
    return result.stdout


def recipes(binary, cwd, **env):
    lines = run(binary, "pipeline", "list", cwd=cwd, **env).splitlines()[1:]
    return {line.split()[0] for line in lines if line.strip() and not set(line) <= set("- ")}


def first_prompt(binary, cwd):
    return run(binary, "data", "show", "--dataset", "gsm8k_test", "--n", "1", cwd=cwd)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("prefix")
    build = Path(R1).resolve().parent
    done = subprocess.run(["cmake", "--install", str(build), "--prefix", str(prefix)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return prefix


def test_the_build_binary_works_from_another_directory(tmp_path):
    assert BUILT_IN <= recipes(Path(R1).resolve(), tmp_path)
    if Path(DATA_DIR, "gsm8k", "test.jsonl").exists():
        assert "Janet" in first_prompt(Path(R1).resolve(), tmp_path)


def test_an_installed_copy_uses_its_own_share_folder(installed, tmp_path):
    r1 = installed / "bin" / "r1"
    share = installed / "share" / "r1"
    assert BUILT_IN <= {p.stem for p in (share / "recipes").glob("*.json")}
    # A recipe only the installed folder has is listed: the copy reads its own.
    recipe = json.loads((share / "recipes" / "r1-zero-tiny.json").read_text())
    recipe["name"] = "installed-only"
    (share / "recipes" / "installed-only.json").write_text(json.dumps(recipe))
    assert BUILT_IN | {"installed-only"} <= recipes(r1, tmp_path)
    if Path(DATA_DIR, "gsm8k", "test.jsonl").exists():
        assert (share / "data" / "gsm8k" / "test.jsonl").exists()
        assert "Janet" in first_prompt(r1, tmp_path)


def test_the_environment_variables_win(installed, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(installed / "share" / "r1" / "recipes" / "r1-tiny.json", mine / "only-mine.json")
    assert recipes(installed / "bin" / "r1", tmp_path, R1_RECIPES_DIR=str(mine)) == {"only-mine"}
