"""Our maths checker (`r1 math-check`, completion mode, default options)
against math-verify 0.9 on completions a model really wrote, not on gold
answers we wrapped in \\boxed{} ourselves.

1. tests/data/math_completions.jsonl: SmolLM2-135M-Instruct's completions of
   GSM8K test and MATH-500 problems, greedy and sampled, with and without the
   instruction to box the answer (scripts/make_math_completions.py made it).
   math-verify judges verify(parse("\\boxed{gold}"), parse(completion)).
   Agreement must be at least 98%, and every disagreement must be listed with
   an argued verdict in tests/data/math_completion_disagreements.jsonl; a new
   one, or a listed one that no longer occurs, fails the test.
2. tests/python/math_answer_styles.py: the answer styles math-verify's and
   lighteval's documentation describe. Our verdict must be the expected one,
   and math-verify's too unless the case says why it differs.
"""
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from math_answer_styles import STYLES  # noqa: E402
from paths import ROOT  # noqa: E402
from r1_cli import math_check  # noqa: E402

COMPLETIONS = Path(ROOT) / "tests" / "data" / "math_completions.jsonl"
DISAGREEMENTS = Path(ROOT) / "tests" / "data" / "math_completion_disagreements.jsonl"


def math_verify_verdicts(pairs):
    from math_verify import parse, verify
    return [bool(verify(parse("\\boxed{" + gold + "}"), parse(completion))) for gold, completion in pairs]


def load_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def key(row):
    return row["id"], row["style"], row["decoding"]


def listed_disagreements():
    listed = {}
    for d in load_jsonl(DISAGREEMENTS):
        assert d["verdict"] in ("ours-right", "theirs-right", "both-wrong"), d
        assert d["why"].strip(), d
        listed[key(d)] = d
    return listed


def test_completions_cover_every_dataset_style_and_decoding():
    cells = Counter((r["dataset"], r["style"], r["decoding"]) for r in load_jsonl(COMPLETIONS))
    assert len(cells) == 8, cells
    assert min(cells.values()) >= 50, cells


def test_real_completions_agree_with_math_verify():
    rows = load_jsonl(COMPLETIONS)
    verdicts = math_check([{"gold": r["gold"], "completion": r["completion"]} for r in rows])
    theirs = math_verify_verdicts([(r["gold"], r["completion"]) for r in rows])
    listed = listed_disagreements()
    disagreements, unlisted = {}, []
    for r, v, t in zip(rows, verdicts, theirs):
        if v["correct"] == t:
            continue
        disagreements[key(r)] = r
        d = listed.get(key(r))
        if d is None or d["ours"] != v["correct"] or d["theirs"] != t:
            unlisted.append(json.dumps({"id": r["id"], "style": r["style"], "decoding": r["decoding"], "gold": r["gold"],
                                        "extracted": v["extracted"], "ours": v["correct"], "theirs": t}))
    stale = [k for k in listed if k not in disagreements]
    assert not unlisted, f"disagreements not in {DISAGREEMENTS}:\n" + "\n".join(unlisted)
    assert not stale, f"listed in {DISAGREEMENTS} but no longer disagreeing: {stale}"
    for cell in sorted({(r["dataset"], r["style"], r["decoding"]) for r in rows}):
        in_cell = [(r, v, t) for r, v, t in zip(rows, verdicts, theirs) if (r["dataset"], r["style"], r["decoding"]) == cell]
        agree = sum(v["correct"] == t for _, v, t in in_cell)
        correct = sum(t for _, _, t in in_cell)
        print(f"{'/'.join(cell)}: {agree}/{len(in_cell)} agree; math-verify correct {correct}")
    agreement = 1 - len(disagreements) / len(rows)
    print(f"agreement with math-verify on real completions: {agreement:.4f} "
          f"({len(rows) - len(disagreements)}/{len(rows)}), {len(disagreements)} disagreements")
    assert agreement >= 0.98


def test_documented_answer_styles():
    pairs = [(case[0], case[1]) for case in STYLES]
    ours = [v["correct"] for v in math_check([{"gold": g, "completion": c} for g, c in pairs])]
    theirs = math_verify_verdicts(pairs)
    wrong = [(case[3], o) for case, o in zip(STYLES, ours) if o != case[2]]
    assert not wrong, wrong
    unexplained = [(case[3], t) for case, t in zip(STYLES, theirs) if t != case[2] and len(case) < 5]
    assert not unexplained, f"math-verify differs without a stated reason: {unexplained}"
