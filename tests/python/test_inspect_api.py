"""`r1 inspect`'s JSON API over real HTTP (urllib), on a real `r1 rl` run folder and an `r1 eval` eval.db.

- The numbers equal `r1 rollouts` (steps, show, follow) and metrics.jsonl; discarded samples and their reasons equal
  the store's rows and follow the trainer's rules; text search finds what sqlite3 finds; eval.db browses the same way.
- Live: while an `r1 rl` run trains, the steps the API lists grow, and at its end equal `r1 rollouts steps`.
- Refusals: `..` and encoded `..`, unknown parameters, unknown runs, paths outside /api, a Host that is not
  loopback, and a run folder whose database is a symlink out of it.
- Failures: a malformed, locked or missing database is a JSON error naming it (and the server keeps serving); a
  missing path on the command line exits 1.
- The server binds 127.0.0.1 when given only a port, and by default.
"""
import http.client
import json
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from r1_cli import R1, Inspector, f4, parse_table, r1, tiny_rl_and_eval


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_rl_and_eval(tmp_path_factory.mktemp("inspect"))


@pytest.fixture(scope="module")
def server(runs, tmp_path_factory):
    run, ev = runs
    with Inspector(run, ev, log=tmp_path_factory.mktemp("log") / "inspect.log") as inspector:
        yield inspector


def get(url, expect=200):
    """The decoded JSON body of GET url, whose status must be `expect`."""
    try:
        with urllib.request.urlopen(url, timeout=30) as res:
            status, body = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    assert status == expect, f"{url}: HTTP {status}: {body[:300]!r}"
    return json.loads(body)


def raw_get(url, target, headers=None):
    """Status, content type and body of a request for exactly `target` (urllib would normalise it)."""
    host, port = url.removeprefix("http://").split(":")
    con = http.client.HTTPConnection(host, int(port), timeout=30)
    con.request("GET", target, headers=headers or {})
    res = con.getresponse()
    out = res.status, res.getheader("Content-Type"), res.read().decode()
    con.close()
    return out


def query(db, sql, *params):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def test_runs_lists_the_run_and_the_eval_db(server, runs):
    listed = get(server.url + "/api/runs")["runs"]
    assert [(r["id"], r["name"], r["kind"]) for r in listed] == [(0, str(runs[0]), "run"), (1, str(runs[1]), "eval")]
    assert all(r["error"] is None and r["schema_version"] == 2 for r in listed)
    (run_id,), = query(runs[0] / "rollouts.db", "SELECT run_id FROM run_info")
    assert listed[0]["run_info"]["run_id"] == run_id and listed[0]["has_metrics"]


@pytest.mark.parametrize("run_id", [0, 1])
def test_steps_equal_r1_rollouts_steps(server, runs, run_id):
    db = runs[0] / "rollouts.db" if run_id == 0 else runs[1] / "eval.db"
    table = parse_table(r1("rollouts", "--db", db, "steps", "--components").stdout)
    steps = get(f"{server.url}/api/runs/{run_id}/steps")["steps"]
    assert len(table) == len(steps) > 0 and any(s["n"] > 0 for s in steps)
    for row, s in zip(table, steps):
        assert (row["step"], row["n"]) == (str(s["step"]), str(s["n"]))
        if s["n"] == 0:
            assert row["reward_mean"] == "-"
            continue
        assert (row["reward_mean"], row["reward_std"]) == (f4(s["reward_mean"]), f4(s["reward_std"]))
        assert row["mean_len"] == f"{s['mean_completion_tokens']:.1f}"
        assert row["truncated"] == f"{100 * s['truncated_fraction']:.1f}%"
        for name, value in s["components"].items():
            assert row[name] == f4(value)


def test_step_samples_equal_r1_rollouts_show(server, runs):
    db = runs[0] / "rollouts.db"
    (first, last), = query(db, "SELECT min(step), max(step) FROM rollouts")
    for step in (first, last):
        table = parse_table(r1("rollouts", "--db", db, "show", "--step", step).stdout)
        data = get(f"{server.url}/api/runs/0/steps/{step}")
        assert data["n"] == len(data["samples"]) == len(table) > 0
        for row, s in zip(table, data["samples"]):  # both in (group, sample) order
            assert (row["group"], row["sample"], row["prompt"]) == tuple(
                str(s[k]) for k in ("group_index", "sample_index", "prompt_index"))
            assert (row["reward"], row["advantage"]) == (f4(s["total_reward"]), f4(s["advantage"]))
            assert (row["tokens"], row["finish"]) == (str(s["completion_tokens"]), s["finish_reason"])
            assert row["accuracy"] == f"{s['reward_components']['accuracy']:.3f}"
        rewards = [s["total_reward"] for s in data["samples"]]
        for g in data["groups"]:
            mine = [s for s in data["samples"] if s["group_index"] == g["group_index"]]
            assert g["n"] == len(mine) and g["reward_mean"] == pytest.approx(sum(s["total_reward"] for s in mine) / len(mine))
            passed = [s["reward_components"]["accuracy"] >= 1 for s in mine]
            assert g["pass_rate"] == pytest.approx(sum(passed) / len(passed))
        by_reward = get(f"{server.url}/api/runs/0/steps/{step}?sort=reward&order=desc")["samples"]
        assert [s["total_reward"] for s in by_reward] == sorted(rewards, reverse=True)
        stops = get(f"{server.url}/api/runs/0/steps/{step}?finish=stop")["samples"]
        assert len(stops) == sum(s["finish_reason"] == "stop" for s in data["samples"])


def test_prompt_across_steps_equals_r1_rollouts_follow(server, runs):
    db = runs[0] / "rollouts.db"
    (index,), = query(db, "SELECT prompt_index FROM rollouts GROUP BY prompt_index "
                          "ORDER BY count(DISTINCT step) DESC, prompt_index LIMIT 1")
    table = parse_table(r1("rollouts", "--db", db, "follow", "--prompt-index", index).stdout)
    data = get(f"{server.url}/api/runs/0/prompts/{index}")
    assert len(data["steps"]) == len(table) >= 2
    for row, s in zip(table, data["steps"]):
        assert (row["step"], row["n"]) == (str(s["step"]), str(s["n"]))
        assert (row["reward_mean"], row["reward_min"], row["reward_max"]) == (
            f4(s["reward_mean"]), f4(s["reward_min"]), f4(s["reward_max"]))
        accuracy = query(db, "SELECT c.value FROM rollouts r JOIN reward_components c ON c.rollout_id = r.id "
                             "WHERE r.prompt_index = ? AND r.step = ? AND c.name = 'accuracy'", index, s["step"])
        assert s["pass_rate"] == pytest.approx(sum(v >= 1 for (v,) in accuracy) / len(accuracy))
    first, last = data["steps"][0]["step"], data["steps"][-1]["step"]
    assert (data["a"]["step"], data["b"]["step"]) == (first, last)
    chosen = get(f"{server.url}/api/runs/0/prompts/{index}?a={last}&b={first}")
    completions = [c for (c,) in query(db, "SELECT completion FROM rollouts WHERE prompt_index = ? AND step = ? "
                                           "ORDER BY group_index, sample_index", index, last)]
    assert [s["completion"] for s in chosen["a"]["samples"]] == completions


def test_metrics_are_every_metrics_jsonl_key(server, runs):
    lines = [json.loads(line) for line in (runs[0] / "metrics.jsonl").read_text().splitlines()]
    metrics = get(server.url + "/api/runs/0/metrics")["metrics"]
    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    keys = {k for line in lines for k, v in line.items() if k != "step" and number(v)}
    assert set(metrics) == keys and {"reward", "kl", "loss", "grad_norm", "learning_rate"} <= keys
    for key in keys:
        expected = [[float(line["step"]), pytest.approx(line[key])] for line in lines if number(line.get(key))]
        assert [p for p in metrics[key] if p[1] is not None] == expected
    eval_metrics = get(server.url + "/api/runs/1/metrics")["metrics"]
    logged = query(runs[1] / "eval.db", "SELECT name, value FROM step_metrics")
    assert {k: v[0][1] for k, v in eval_metrics.items()} == {k: pytest.approx(v) for k, v in logged}


def test_discarded_samples_carry_the_trainers_reasons(server, runs):
    db = runs[0] / "rollouts.db"
    data = get(server.url + "/api/runs/0/discarded?limit=10000")
    counts = dict(query(db, "SELECT discard_reason, count(*) FROM rollouts WHERE discard_reason IS NOT NULL GROUP BY 1"))
    assert data["counts"] == counts and sum(counts.values()) == len(data["samples"]) > 0
    assert set(counts) <= {"zero_std", "surplus", "truncated"}
    for s in data["samples"]:
        if s["discard_reason"] == "truncated":
            assert s["finish_reason"] == "length"
        if s["discard_reason"] == "zero_std":
            rewards = {r for (r,) in query(db, "SELECT total_reward FROM rollouts WHERE step = ? AND group_index = ?",
                                           s["step"], s["group_index"])}
            assert len(rewards) == 1
    # Trained samples that finished by length would have been masked: none is left without its reason.
    (unmarked,), = query(db, "SELECT count(*) FROM rollouts WHERE finish_reason = 'length' AND discard_reason IS NULL")
    assert unmarked == 0
    reason = next(iter(counts))
    only = get(f"{server.url}/api/runs/0/discarded?reason={reason}&limit=10000")["samples"]
    assert len(only) == counts[reason] and {s["discard_reason"] for s in only} == {reason}
    page = get(f"{server.url}/api/runs/0/discarded?limit=2&offset=1")["samples"]
    assert [(s["step"], s["group_index"], s["sample_index"]) for s in page] == [
        (s["step"], s["group_index"], s["sample_index"]) for s in data["samples"][1:3]]


def test_search_finds_what_sqlite_finds(server, runs):
    db = runs[0] / "rollouts.db"
    (completion,), = query(db, "SELECT completion FROM rollouts WHERE length(completion) > 6 LIMIT 1")
    text = completion[1:5]
    data = get(f"{server.url}/api/runs/0/search?q={urllib.parse.quote(text)}&limit=10000")
    expected = query(db, "SELECT step, group_index, sample_index FROM rollouts WHERE instr(completion, ?) > 0 "
                         "ORDER BY step, group_index, sample_index", text)
    assert [(s["step"], s["group_index"], s["sample_index"]) for s in data["samples"]] == expected
    prompt_text = query(db, "SELECT prompt FROM prompts LIMIT 1")[0][0][-12:]
    prompts = get(f"{server.url}/api/runs/0/search?q={urllib.parse.quote(prompt_text)}")["prompts"]
    assert prompts and all(prompt_text in p["prompt"] for p in prompts)


def test_a_training_run_updates_live(runs, tmp_path):
    config = json.loads((runs[0].parent / "rl.json").read_text())
    config.update(output_dir=str(tmp_path / "live"), max_steps=12)
    (tmp_path / "live.json").write_text(json.dumps(config))
    trainer = subprocess.Popen([R1, "rl", "--config", tmp_path / "live.json"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "live" / "rollouts.db").exists():
            assert trainer.poll() is None and time.time() < deadline, trainer.stderr.read() if trainer.poll() else "slow"
            time.sleep(0.02)
        # Paused while the inspector starts: a fast machine would otherwise
        # finish all 12 steps before it answers once.
        trainer.send_signal(signal.SIGSTOP)
        with Inspector(tmp_path / "live", log=tmp_path / "inspect.log") as inspector:
            seen = [len(get(inspector.url + "/api/runs/0/steps")["steps"])]  # the step counts it answered
            trainer.send_signal(signal.SIGCONT)
            while trainer.poll() is None:
                assert time.time() < deadline, "the run did not finish in 120 s"
                seen.append(len(get(inspector.url + "/api/runs/0/steps")["steps"]))
                time.sleep(0.05)
            assert trainer.returncode == 0, trainer.stderr.read()
            assert len(set(seen)) >= 2 and seen == sorted(seen), seen  # it grew while we watched
            final = get(inspector.url + "/api/runs/0/steps")["steps"]
            table = parse_table(r1("rollouts", "--db", tmp_path / "live" / "rollouts.db", "steps").stdout)
            assert [(r["step"], r["n"], r["reward_mean"]) for r in table] == [
                (str(s["step"]), str(s["n"]), f4(s["reward_mean"])) for s in final]
            assert [p[0] for p in get(inspector.url + "/api/runs/0/metrics")["metrics"]["reward"]] == list(
                map(float, range(1, 13)))
    finally:
        if trainer.poll() is None:
            trainer.kill()
        trainer.wait(timeout=30)


def test_paths_outside_the_runs_are_refused(server, runs, tmp_path):
    for target in ("/api/runs/0/../../../etc/passwd", "/api/runs/0/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc/passwd"):
        status, _, body = raw_get(server.url, target)
        assert status == 403, target
    status, kind, body = raw_get(server.url, "/etc/passwd")
    assert status == 404 and kind.startswith("text/html") and "root:" not in body
    status, _, body = raw_get(server.url, "/api/runs/0/steps?db=/etc/passwd")
    assert status == 400 and "unknown parameter 'db'" in json.loads(body)["error"]
    assert "no run 7" in get(server.url + "/api/runs/7/steps", expect=404)["error"]
    status, _, _ = raw_get(server.url, "/api/runs", headers={"Host": "attacker.example:80"})
    assert status == 403  # DNS rebinding: a loopback server answers only loopback names

    outside = tmp_path / "outside"
    shutil.copytree(runs[0], outside, ignore=shutil.ignore_patterns("model", "checkpoint-*"))
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "rollouts.db").symlink_to(outside / "rollouts.db")
    refused = r1("inspect", linked, "--listen", "0", check=False)
    assert refused.returncode == 1 and "leads out of" in refused.stderr


def test_unreadable_databases_are_json_errors(runs, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "rollouts.db").write_bytes(b"not a database at all " * 100)
    early = tmp_path / "early"
    early.mkdir()
    (early / "metrics.jsonl").write_text("")  # a run that has not written rollouts.db yet
    locked = tmp_path / "locked"
    shutil.copytree(runs[0], locked, ignore=shutil.ignore_patterns("model", "checkpoint-*"))
    with Inspector(bad, early, locked, log=tmp_path / "inspect.log") as inspector:
        assert "not a database" in get(inspector.url + "/api/runs/0/steps", expect=500)["error"]
        assert "does not exist (yet)" in get(inspector.url + "/api/runs/1/steps", expect=500)["error"]
        listed = get(inspector.url + "/api/runs")["runs"]
        assert listed[0]["error"] and listed[2]["error"] is None
        holder = sqlite3.connect(locked / "rollouts.db", timeout=1)
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("UPDATE rollouts SET advantage = advantage")
        try:
            assert "locked" in get(inspector.url + "/api/runs/2/steps", expect=500)["error"]
        finally:
            holder.rollback()
            holder.close()
        status, kind, page = raw_get(inspector.url, "/")
        assert status == 200 and kind.startswith("text/html") and "r1 inspect" in page
        assert get(inspector.url + "/api/runs/2/steps")["steps"]  # still serving, and the lock is gone
    missing = r1("inspect", tmp_path / "absent", check=False)
    assert missing.returncode == 1 and "no such run folder or database" in missing.stderr


def test_binds_loopback_by_default(runs, tmp_path):
    with Inspector(runs[0], log=tmp_path / "inspect.log", listen="0") as inspector:
        assert inspector.url.startswith("http://127.0.0.1:")
    assert "default 127.0.0.1:8765" in r1("inspect", "--help").stdout
    # With no --listen at all: 127.0.0.1:8765, unless another program holds that port.
    proc = subprocess.Popen([R1, "inspect", runs[0]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if line:
            assert line.strip() == "listening on http://127.0.0.1:8765/"
        else:
            assert "127.0.0.1:8765" in proc.stderr.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
