"""`r1 rollouts` against a fixture store written by our RolloutStore
(r1_rollout_fixture, built next to r1). Expected values come from Python's
sqlite3 and statistics modules reading the same file."""
import hashlib
import json
import sqlite3
import statistics
import subprocess
from pathlib import Path

import pytest

from r1_cli import R1, f4, parse_table, r1

FIXTURE = str(Path(R1).parent / "r1_rollout_fixture")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    if not Path(FIXTURE).exists():
        pytest.fail(f"{FIXTURE} is missing: build the r1_rollout_fixture target (it sits next to r1)")
    path = tmp_path_factory.mktemp("rollouts") / "rollouts.db"
    subprocess.run([FIXTURE, str(path), "8"], check=True)
    return str(path)


def query(db, sql, *params):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def test_steps_table_matches_sqlite(db):
    rows = parse_table(r1("rollouts", "--db", db, "steps", "--metrics", "kl,reward", "--components").stdout)
    steps = [s for (s,) in query(db, "SELECT DISTINCT step FROM rollouts ORDER BY step")]
    assert [int(r["step"]) for r in rows] == steps
    for row in rows:
        step = int(row["step"])
        rewards = [r for (r,) in query(db, "SELECT total_reward FROM rollouts WHERE step = ?", step)]
        lengths = [n for (n,) in query(db, "SELECT completion_tokens FROM rollouts WHERE step = ?", step)]
        truncated = query(db, "SELECT count(*) FROM rollouts WHERE step = ? AND finish_reason = 'length'", step)[0][0]
        assert int(row["n"]) == len(rewards)
        assert row["reward_mean"] == f4(statistics.mean(rewards))
        assert row["reward_std"] == f4(statistics.stdev(rewards))
        assert row["mean_len"] == f"{statistics.mean(lengths):.1f}"
        assert row["truncated"] == f"{100.0 * truncated / len(rewards):.1f}%"
        for comp in ("accuracy", "format"):
            values = [v for (v,) in query(db, "SELECT c.value FROM reward_components c JOIN rollouts r "
                                              "ON r.id = c.rollout_id WHERE r.step = ? AND c.name = ?", step, comp)]
            assert row[comp] == f4(statistics.mean(values))
        for metric in ("kl", "reward"):
            (value,), = query(db, "SELECT value FROM step_metrics WHERE step = ? AND name = ?", step, metric)
            assert row[metric] == f4(value)
    assert any(r["kl"] == "nan" for r in rows)  # the fixture logs a NaN kl at step 2


def test_steps_every_and_last(db):
    full = parse_table(r1("rollouts", "--db", db, "steps").stdout)
    every = parse_table(r1("rollouts", "--db", db, "steps", "--every", "3").stdout)
    assert every == [r for i, r in enumerate(full) if i % 3 == 0 or i == len(full) - 1]
    last = parse_table(r1("rollouts", "--db", db, "steps", "--every", "3", "--last", "2").stdout)
    assert last == every[-2:]


def test_show_best_and_worst(db):
    all_rewards = sorted((r for (r,) in query(db, "SELECT total_reward FROM rollouts WHERE step = 3")), reverse=True)
    best = parse_table(r1("rollouts", "--db", db, "show", "--step", "3", "--best", "3").stdout)
    assert [float(r["reward"]) for r in best] == pytest.approx(all_rewards[:3])
    worst = parse_table(r1("rollouts", "--db", db, "show", "--step", "3", "--worst", "2").stdout)
    assert [float(r["reward"]) for r in worst] == pytest.approx(sorted(all_rewards)[:2])
    for r in best + worst:
        (reward, adv, tokens), = query(db, "SELECT total_reward, advantage, completion_tokens FROM rollouts "
                                           "WHERE step = 3 AND group_index = ? AND sample_index = ?",
                                       int(r["group"]), int(r["sample"]))
        assert (r["reward"], r["advantage"], r["tokens"]) == (f4(reward), f4(adv), str(tokens))
    everything = parse_table(r1("rollouts", "--db", db, "show", "--step", "3").stdout)
    assert len(everything) == len(all_rewards)


def test_show_full_prints_whole_texts(db):
    out = r1("rollouts", "--db", db, "show", "--step", "3", "--best", "1", "--full").stdout
    (completion, prompt, answer), = query(
        db, "SELECT completion, prompt, reference_answer FROM rollouts_with_prompt WHERE step = 3 "
            "ORDER BY total_reward DESC, group_index, sample_index LIMIT 1")
    assert completion in out and prompt in out
    assert (answer is None) or (answer in out)


def test_follow_prompt_across_steps(db):
    by_index = r1("rollouts", "--db", db, "follow", "--prompt-index", "5").stdout
    by_text = r1("rollouts", "--db", db, "follow", "--prompt-contains", "Problem #5:").stdout
    assert by_index == by_text
    rows = parse_table(by_index)
    expected = query(db, "SELECT step, count(*), avg(total_reward), min(total_reward), max(total_reward) "
                         "FROM rollouts WHERE prompt_index = 5 GROUP BY step ORDER BY step")
    assert len(rows) == len(expected) > 0
    for row, (step, n, mean, lo, hi) in zip(rows, expected):
        assert (int(row["step"]), int(row["n"])) == (step, n)
        assert (row["reward_mean"], row["reward_min"], row["reward_max"]) == (f4(mean), f4(lo), f4(hi))


def test_follow_ambiguous_or_missing_prompt_is_an_error(db):
    proc = r1("rollouts", "--db", db, "follow", "--prompt-contains", "Natalia", check=False)
    assert proc.returncode == 1
    assert "pick one with --prompt-index" in proc.stderr
    n_prompts = query(db, "SELECT count(*) FROM prompts")[0][0]
    assert f"{n_prompts} prompts contain 'Natalia'" in proc.stderr
    proc = r1("rollouts", "--db", db, "follow", "--prompt-index", "999", check=False)
    assert proc.returncode == 1 and "prompt_index 999 has no rollouts" in proc.stderr


def test_export_jsonl_has_every_field(db, tmp_path):
    out = tmp_path / "all.jsonl"
    r1("rollouts", "--db", db, "export", "--out", str(out))
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    rows = query(db, "SELECT id, step, policy_version, prompt_index, group_index, sample_index, prompt, completion, "
                     "prompt_tokens, completion_tokens, finish_reason, total_reward, advantage, logprob_sum, "
                     "logprob_mean, logprob_min, generation_ms, reference_answer FROM rollouts_with_prompt "
                     "ORDER BY step, group_index, sample_index")
    assert len(lines) == len(rows)
    keys = ["step", "policy_version", "prompt_index", "group_index", "sample_index", "prompt", "completion",
            "prompt_tokens", "completion_tokens", "finish_reason", "total_reward", "advantage"]
    for line, row in zip(lines, rows):
        assert [line[k] for k in keys] == list(row[1:13])
        assert [line["old_logprob"][k] for k in ("sum", "mean", "min")] == list(row[13:16])
        assert line["generation_ms"] == row[16] and line["reference_answer"] == row[17]
        comps = dict(query(db, "SELECT name, value FROM reward_components WHERE rollout_id = ?", row[0]))
        assert line["reward_components"] == comps
    step_out = tmp_path / "step2.jsonl"
    r1("rollouts", "--db", db, "export", "--out", str(step_out), "--step", "2")
    step_lines = [json.loads(l) for l in step_out.read_text().splitlines()]
    assert step_lines == [l for l in lines if l["step"] == 2] and step_lines


def test_summary(db):
    out = r1("rollouts", "--db", db, "summary").stdout
    rows = {r["field"]: r["value"] for r in parse_table(out)}
    assert rows["run"] == "fixture (fixture-run)"
    assert rows["rollouts"] == str(query(db, "SELECT count(*) FROM rollouts")[0][0])
    (after, discarded), = query(db, "SELECT after_step, discarded_rollouts FROM resumes")
    assert rows["resume"].startswith(f"after step {after} ")
    assert f"discarded {discarded} rollouts" in rows["resume"]
    first, last = query(db, "SELECT min(step), max(step) FROM rollouts")[0]
    mean_first = query(db, "SELECT avg(total_reward) FROM rollouts WHERE step = ?", first)[0][0]
    mean_last = query(db, "SELECT avg(total_reward) FROM rollouts WHERE step = ?", last)[0][0]
    assert rows["reward mean"].startswith(f"{f4(mean_first)} -> {f4(mean_last)}")


def test_reads_while_another_connection_writes_and_never_modifies_the_file(db, tmp_path):
    copy = tmp_path / "rollouts.db"
    copy.write_bytes(Path(db).read_bytes())
    before = hashlib.sha256(copy.read_bytes()).hexdigest()
    expected = parse_table(r1("rollouts", "--db", str(copy), "steps").stdout)
    writer = sqlite3.connect(str(copy), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # holds the write lock with an uncommitted row, like a run mid-step
    writer.execute("INSERT INTO steps(step, wall_time) VALUES (1000, 0)")
    try:
        assert parse_table(r1("rollouts", "--db", str(copy), "steps").stdout) == expected
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    copy2 = tmp_path / "untouched.db"
    copy2.write_bytes(Path(db).read_bytes())
    for sub in (["steps"], ["summary"], ["show", "--step", "1"], ["follow", "--prompt-index", "0"]):
        r1("rollouts", "--db", str(copy2), *sub)
    assert hashlib.sha256(copy2.read_bytes()).hexdigest() == before
    wal = Path(str(copy2) + "-wal")  # readers may create an empty WAL; it must stay empty
    assert not wal.exists() or wal.stat().st_size == 0


def test_input_errors(db, tmp_path):
    proc = r1("rollouts", "--db", str(tmp_path / "missing.db"), "steps", check=False)
    assert proc.returncode == 1 and "missing.db: cannot open for reading" in proc.stderr
    proc = r1("rollouts", "--db", db, "steps", "--metrics", "nope", check=False)
    assert proc.returncode == 1 and "metric 'nope' was never logged; logged metrics: kl, learning_rate, reward" in proc.stderr
    proc = r1("rollouts", "--db", db, "show", "--step", "99", check=False)
    assert proc.returncode == 1 and "step 99 has no rollouts (steps with rollouts: 0..7)" in proc.stderr
    not_db = tmp_path / "text.db"
    not_db.write_text("hello, this is not sqlite at all, but long enough to look like a header......\n")
    proc = r1("rollouts", "--db", str(not_db), "summary", check=False)
    assert proc.returncode == 1 and "text.db" in proc.stderr
