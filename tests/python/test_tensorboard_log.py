"""`report_to: ["tensorboard"]`: TensorBoard event files beside metrics.jsonl.

Read back by tbparse and by TensorBoard's own EventAccumulator (from PyPI,
neither written here), they hold every numeric metric of every logged step
with the value metrics.jsonl has (as float32, TensorBoard's scalar type). A
run resumed from a checkpoint writes a second file that starts with a
session start, so TensorBoard drops the first file's steps after the
checkpoint: the curves equal the resumed metrics.jsonl, no step twice.
"""
import json
import math
import shutil

import numpy as np
from tbparse import SummaryReader
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from r1_cli import r1
from test_rl_cli import base, write_config  # noqa: F401 (the tiny model fixture)


def logged(run_dir):
    """{(step, tag): value} of the numeric metrics.jsonl values, as float32."""
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                out[(row["step"], k)] = float(np.float32(v))
    return out


def test_event_files_hold_what_metrics_jsonl_holds(base):
    r1("rl", "--config", str(write_config(base, "tb", max_steps=4, report_to=["tensorboard"])))
    files = list((base / "tb" / "runs").glob("events.out.tfevents.*"))
    assert len(files) == 1
    scalars = SummaryReader(str(base / "tb" / "runs")).scalars
    got = {(int(s), t): float(v) for s, t, v in zip(scalars["step"], scalars["tag"], scalars["value"])}
    want = logged(base / "tb")
    assert len(want) > 4 * 10  # every step, many metrics
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert math.isclose(got[key], value, rel_tol=1e-6, abs_tol=1e-30) or (math.isnan(got[key]) and math.isnan(value)), key


def test_a_resumed_run_shows_each_step_once(base):
    config = write_config(base, "tb_resumed", max_steps=4, save_steps=2, report_to=["all"])
    r1("rl", "--config", str(config))
    run = base / "tb_resumed"
    shutil.rmtree(run / "checkpoint-4")
    shutil.rmtree(run / "model")
    r1("rl", "--config", str(config), "--resume")
    assert len(list((run / "runs").glob("events.out.tfevents.*"))) == 2
    acc = EventAccumulator(str(run / "runs"), size_guidance={"scalars": 0})
    acc.Reload()
    want = logged(run)
    for tag in ("reward", "loss"):
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [1, 2, 3, 4]
        for e in events:
            assert math.isclose(e.value, want[(e.step, tag)], rel_tol=1e-6, abs_tol=1e-30)


def test_other_trackers_are_refused_naming_the_value(base):
    result = r1("rl", "--config", str(write_config(base, "tb_bad", report_to=["wandb"])), check=False)
    assert result.returncode != 0
    assert "field 'report_to': 'wandb' is not one r1 writes" in result.stderr
