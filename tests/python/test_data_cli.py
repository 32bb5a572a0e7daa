"""`r1 data`: generated tasks checked against Python (TinyZero's countdown
scorer, exact integer arithmetic) and scored 1.0 by `r1 reward score` when the
worked solution is the completion; `r1 data show` against the raw files."""
import json
import os
import re
from pathlib import Path

import pytest

from r1_cli import r1

ROOT = Path(os.environ.get("R1_ROOT", "."))
DATA = Path(os.environ.get("R1_DATA_DIR", ROOT.resolve().parent / "shared" / "data"))
R1_ZERO_PREFIX = ("A conversation between User and Assistant. The user asks a question, and the Assistant "
                  "solves it. The assistant first thinks about the reasoning process in the mind and then "
                  "provides the user with the answer. The reasoning process and answer are enclosed within "
                  "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
                  "process here </think> <answer> answer here </answer>. User: ")


def tasks(tmp_path, task, split, n, seed, *extra):
    out = tmp_path / f"{task}-{split}-{seed}.jsonl"
    r1("data", "tasks", "--task", task, "--split", split, "--n", str(n), "--seed", str(seed),
       "--out", str(out), *extra)
    return [json.loads(line) for line in out.read_text().splitlines()]


def tinyzero_equation_ok(equation, numbers, target):
    # TinyZero's validate_equation + evaluate_equation.
    if sorted(int(n) for n in re.findall(r"\d+", equation)) != sorted(numbers):
        return False
    if not re.match(r"^[\d+\-*/().\s]+$", equation):
        return False
    return abs(eval(equation, {"__builtins__": None}, {}) - target) < 1e-5


def score(tmp_path, spec, rows):
    spec_path, rows_path, out = tmp_path / "spec.json", tmp_path / "rows.jsonl", tmp_path / "scores.jsonl"
    spec_path.write_text(json.dumps(spec))
    rows_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r1("reward", "score", "--spec", str(spec_path), "--input", str(rows_path), "--output", str(out))
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_countdown_solutions_solve_and_score_full(tmp_path):
    rows = tasks(tmp_path, "countdown", "train", 300, 5)
    for row in rows:
        assert row["prompt"] == (f"Using the numbers [{', '.join(map(str, row['numbers']))}], "
                                 f"create an equation that equals {row['target']}")
        equation = re.search(r"<answer>(.*?)</answer>", row["solution"]).group(1)
        assert tinyzero_equation_ok(equation, row["numbers"], row["target"]), row
    scored = score(tmp_path, {"rewards": [{"checker": "countdown"}, {"checker": "format_lenient"}]},
                   [dict(row, completion=row["solution"]) for row in rows])
    assert [s["components"] for s in scored] == [{"countdown": 1.0, "format_lenient": 1.0}] * len(rows)


def test_arithmetic_answers_are_exact_and_score_full(tmp_path):
    rows = tasks(tmp_path, "arithmetic", "heldout", 200, 6, "--min-digits", "2", "--max-digits", "5")
    for row in rows:
        a, op, b = re.fullmatch(r"Compute (\d+) ([-+*]) (\d+)", row["prompt"]).groups()
        assert int(row["answer"]) == {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
    scored = score(tmp_path, [{"checker": "math"}], [dict(row, completion=row["solution"]) for row in rows])
    assert all(s["total"] == 1.0 for s in scored), [s for s in scored if s["total"] != 1.0][:3]


def test_tasks_are_deterministic_and_splits_disjoint(tmp_path):
    a = tasks(tmp_path, "countdown", "train", 2000, 1)
    (tmp_path / "again").mkdir()
    b = tasks(tmp_path / "again", "countdown", "train", 2000, 1)
    assert a == b
    held = tasks(tmp_path, "countdown", "heldout", 500, 2)
    key = lambda r: (tuple(sorted(r["numbers"])), r["target"])
    assert not {key(r) for r in a} & {key(r) for r in held}
    assert len({r["id"] for r in a}) == len(a)


def test_corpus_is_prompt_then_solution(tmp_path):
    out = tmp_path / "corpus.jsonl"
    r1("data", "corpus", "--task", "arithmetic", "--n", "20", "--seed", "3", "--out", str(out))
    texts = [json.loads(line)["text"] for line in out.read_text().splitlines()]
    rows = tasks(tmp_path, "arithmetic", "train", 20, 3)
    assert texts == [R1_ZERO_PREFIX + r["prompt"] + ". Assistant: " + r["solution"] for r in rows]


@pytest.mark.skipif(not (DATA / "gsm8k" / "test.jsonl").exists(), reason="no shared data")
def test_show_renders_gsm8k_with_the_final_answer():
    first = json.loads((DATA / "gsm8k" / "test.jsonl").open().readline())
    p = r1("data", "show", "--dataset", "gsm8k_test", "--n", "1")
    gold = first["answer"].split("####")[-1].strip().replace(",", "")
    assert R1_ZERO_PREFIX + first["question"] + ". Assistant:" in p.stdout
    assert f"--- answer: {gold}\n" in p.stdout
    assert "1319 examples" in p.stderr


def test_show_with_spec_and_errors(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"q": "Add 2 and 3", "gold": 5}\n{"gold": 6}\n')
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"path": str(data), "prompt_field": "q", "answer_field": "gold",
                                "template": "chatml", "system_prompt": "Be brief."}))
    p = r1("data", "show", "--spec", str(spec), "--n", "1", check=False)
    assert p.returncode == 1
    assert f"r1: error: {data}:2: field 'q' is missing" in p.stderr
    data.write_text('{"q": "Add 2 and 3", "gold": 5}\n')
    p = r1("data", "show", "--spec", str(spec), "--n", "1")
    assert "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nAdd 2 and 3<|im_end|>\n" in p.stdout
    assert "--- answer: 5\n" in p.stdout
    spec.write_text(json.dumps({"path": str(data), "prompt": "q"}))
    p = r1("data", "show", "--spec", str(spec), check=False)
    assert p.returncode == 1 and "unknown key 'prompt'" in p.stderr
    p = r1("data", "show", "--dataset", str(tmp_path / "absent.jsonl"), check=False)
    assert p.returncode == 1 and "neither a file nor a built-in dataset (gsm8k," in p.stderr
    p = r1("data", "tasks", "--task", "countdown", "--n", "5", "--max-number", "0", "--out", str(tmp_path / "x"),
           check=False)
    assert p.returncode == 1 and "max_number" in p.stderr and not (tmp_path / "x").exists()
    p = r1("data", "tasks", "--task", "countdown", "--out", str(tmp_path / "x"), check=False)
    assert p.returncode == 2 and p.stderr.startswith("r1: error: --n is required\n")
