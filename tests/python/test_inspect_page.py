"""The inspector's page in a real headless Chromium (Debian's `chromium`, which scripts/setup.sh installs), driven
over the DevTools protocol on a pipe (--remote-debugging-pipe: no driver, no port).

On a real `r1 rl` run and an `r1 eval` eval.db, the page loads; each metric of metrics.jsonl has its panel with one
point per logged value; the steps table shows the numbers of `r1 rollouts steps`; clicking a step shows that
step's samples with the numbers of `r1 rollouts show`; clicking a prompt shows its steps with the numbers of
`r1 rollouts follow`; the discarded and search views list what the API lists; think/answer parts are marked; an
unreadable database shows its error on the page. Screenshots of each view are saved under the build folder
(build/test_artifacts/inspect_*.png).
"""
import base64
import json
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from r1_cli import R1, Inspector, f4, parse_table, r1, tiny_rl_and_eval

ARTIFACTS = Path(R1).resolve().parent / "test_artifacts"
TIMEOUT_S = 30


class Chromium:
    """A headless Chromium with one page, spoken to over its DevTools pipe (fd 3 in, fd 4 out, NUL-separated JSON)."""

    def __init__(self, profile):
        binary = shutil.which("chromium")
        assert binary, "chromium is not installed; scripts/setup.sh installs Debian's chromium"
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()

        def wire_pipes():  # in the child, before exec: the pipe ends become fds 3 and 4
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             f"--user-data-dir={profile}", "--window-size=1400,1000", "about:blank"],
            pass_fds=(3, 4), preexec_fn=wire_pipes, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)  # its own process group: close() stops its renderers too
        os.close(to_r)
        os.close(from_w)
        self.pending = b""
        self.next_id = 0
        self.session = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000, deviceScaleFactor=1, mobile=False)

    def call(self, method, **params):
        """Sends one command and returns its result; events in between are dropped."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self.to_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            while b"\0" not in self.pending:
                left = deadline - time.monotonic()
                assert left > 0 and select.select([self.from_r], [], [], left)[0], f"{method}: no answer in {TIMEOUT_S} s"
                chunk = os.read(self.from_r, 1 << 20)
                assert chunk, f"{method}: chromium closed its pipe"
                self.pending += chunk
            raw, self.pending = self.pending.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]

    def js(self, expression):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, f"{expression}: {result['exceptionDetails']}"
        return result["result"].get("value")

    def wait_ready(self, view):
        """Waits until the page has rendered `view` (body data-ready="1")."""
        deadline = time.monotonic() + TIMEOUT_S
        state = "document.body ? document.body.dataset.ready + ' ' + document.body.dataset.view : ''"
        while self.js(state) != f"1 {view}":
            assert time.monotonic() < deadline, f"view {view} not rendered in {TIMEOUT_S} s"
            time.sleep(0.05)

    def open(self, url, view):
        """Loads `url` afresh (by way of about:blank, so a hash-only change reloads too) and waits for `view`."""
        self.call("Page.navigate", url="about:blank")
        self.call("Page.navigate", url=url)
        self.wait_ready(view)

    def click(self, selector, view):
        """Clicks the element `selector` (a link), then waits for `view`."""
        found = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return false; "
                        f"document.body.dataset.ready = '0'; e.click(); return true; }})()")
        assert found, f"nothing matches {selector}"
        self.wait_ready(view)

    def table(self, selector):
        """Rows of a table as {data-col: text}, header row left out."""
        return self.js(f"[...document.querySelectorAll({json.dumps(selector)})].map(tr => Object.fromEntries("
                       "[...tr.querySelectorAll('td[data-col]')].map(td => [td.dataset.col, td.textContent])))")

    def screenshot(self, name):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"inspect_{name}.png"
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return path

    def close(self):
        """Stops chromium and every process it started: a renderer left running
        still writes into the profile while the test removes it."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        os.close(self.to_w)
        os.close(self.from_r)


def remove_profile(path):
    """Removes chromium's profile folder; a process of the stopped browser may
    still be closing files in it for a moment."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_rl_and_eval(tmp_path_factory.mktemp("page"))


@pytest.fixture(scope="module")
def page(runs, tmp_path_factory):
    run, ev = runs
    logs = tmp_path_factory.mktemp("logs")
    with Inspector(run, ev, log=logs / "inspect.log") as inspector:
        profile = tempfile.mkdtemp(prefix="chromium-profile-")
        browser = Chromium(profile)
        try:
            browser.url = inspector.url
            yield browser
        finally:
            browser.close()
            remove_profile(profile)


def check_png(path):
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000, path


def test_overview_draws_every_metric_with_its_points(page, runs):
    page.open(page.url + "/", "overview")
    assert page.js("document.getElementById('error').textContent") == ""
    lines = [json.loads(line) for line in (runs[0] / "metrics.jsonl").read_text().splitlines()]
    counts = {}
    for line in lines:
        for k, v in line.items():
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                counts[k] = counts.get(k, 0) + 1
    drawn = page.js("Object.fromEntries([...document.querySelectorAll('svg.panel')].map(p => [p.dataset.metric, "
                    "[...p.querySelectorAll('polyline.curve[data-run=\"0\"]')].reduce((n, l) => n + "
                    "l.getAttribute('points').trim().split(/\\s+/).length, 0)]))")
    assert drawn == counts and len(drawn) >= 5
    check_png(page.screenshot("overview"))

    table = parse_table(r1("rollouts", "--db", runs[0] / "rollouts.db", "steps", "--components").stdout)
    shown = page.table("table.steps-table[data-run='0'] tr.step-row")
    assert len(shown) == len(table) > 0
    for row, cells in zip(table, shown):
        assert {k: cells[k] for k in row} == row


def test_zoom_and_overlay(page, runs):
    page.open(page.url + "/#overview", "overview")
    steps = sorted({json.loads(line)["step"] for line in (runs[0] / "metrics.jsonl").read_text().splitlines()})
    page.js(f"state.zoom = [{steps[1]}, {steps[-1]}]; document.body.dataset.ready = '0'; render()")
    page.wait_ready("overview")
    points = page.js("document.querySelector('svg.panel[data-metric=\"reward\"] polyline.curve')"
                     ".getAttribute('points').trim().split(/\\s+/).length")
    assert points == len(steps) - 1
    page.js("state.zoom = null; document.querySelector('input.overlay[value=\"1\"]').click()")
    page.wait_ready("overview")
    runs_drawn = page.js("[...new Set([...document.querySelectorAll('polyline.curve')].map(l => l.dataset.run))].sort()")
    assert runs_drawn == ["0", "1"]
    check_png(page.screenshot("overlay"))


def test_step_view_shows_r1_rollouts_show(page, runs):
    db = runs[0] / "rollouts.db"
    page.open(page.url + "/#overview", "overview")
    step = int(page.js("document.querySelector('table.steps-table tr.step-row:last-child').dataset.step"))
    page.click(f"table.steps-table tr.step-row[data-step='{step}'] a", "step")
    table = parse_table(r1("rollouts", "--db", db, "show", "--step", step).stdout)
    shown = page.table("table.samples-table tr.sample")
    assert len(shown) == len(table) > 0
    for row, cells in zip(table, shown):
        assert (cells["group"], cells["sample"], cells["prompt"]) == (row["group"], row["sample"], row["prompt"])
        assert (cells["reward"], cells["advantage"]) == (row["reward"], row["advantage"])
        assert (cells["tokens"], cells["finish"]) == (row["tokens"], row["finish"])
    check_png(page.screenshot("step"))
    # Sorting by reward (a header click) orders the rows as `show --best` does.
    page.click("table.samples-table th[data-col='reward']", "step")
    best = parse_table(r1("rollouts", "--db", db, "show", "--step", step, "--best", len(table)).stdout)
    assert [c["reward"] for c in page.table("table.samples-table tr.sample")] == [r["reward"] for r in best]


def test_prompt_view_shows_r1_rollouts_follow(page, runs):
    db = runs[0] / "rollouts.db"
    page.open(page.url + "/#step/0", "step")
    page.click("table.groups-table tr.group-row a", "prompt")
    index = int(page.js("document.getElementById('prompt-input').value"))
    table = parse_table(r1("rollouts", "--db", db, "follow", "--prompt-index", index).stdout)
    shown = page.table("table.prompt-steps tr.prompt-step")
    assert len(shown) == len(table) > 0
    for row, cells in zip(table, shown):
        for col in ("step", "n", "reward_mean", "reward_min", "reward_max", "mean_len"):
            assert cells[col] == row[col]
    assert page.js("document.querySelectorAll('.side-a .side-sample').length") > 0
    assert page.js("document.querySelectorAll('.side-b .side-sample').length") > 0
    check_png(page.screenshot("prompt"))


def test_discarded_and_search_views(page, runs):
    db = runs[0] / "rollouts.db"
    page.open(page.url + "/#discarded/0", "discarded")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    discarded = con.execute("SELECT count(*) FROM rollouts WHERE discard_reason IS NOT NULL").fetchone()[0]
    (completion,), = con.execute("SELECT completion FROM rollouts WHERE length(completion) > 6 LIMIT 1").fetchall()
    text = completion[1:5]
    matches = con.execute("SELECT count(*) FROM rollouts WHERE instr(completion, ?) > 0", (text,)).fetchone()[0]
    con.close()
    assert page.js("document.querySelectorAll('tr.discarded-row').length") == min(discarded, 200) > 0
    check_png(page.screenshot("discarded"))
    page.js(f"document.getElementById('search-box').value = {json.dumps(text)}; document.body.dataset.ready = '0'; "
            "document.getElementById('search-form').requestSubmit()")
    page.wait_ready("search")
    assert page.js("document.querySelectorAll('table.search-samples')[0].querySelectorAll('tr').length - 1") == \
        min(matches, 200)
    check_png(page.screenshot("search"))


def test_think_and_answer_parts_are_marked(page):
    page.open(page.url + "/", "overview")
    marked = page.js("(() => { const b = completionText('<think>a<b>c</think> <answer>42</answer>'); "
                     "return [b.querySelector('.think').textContent, b.querySelector('.answer').textContent, "
                     "b.querySelectorAll('b').length]; })()")
    assert marked == ["a<b>c", "42", 0]  # text, never HTML


def test_an_unreadable_database_shows_its_error(runs, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "rollouts.db").write_bytes(b"garbage " * 200)
    with Inspector(bad, log=tmp_path / "inspect.log") as inspector:
        browser = Chromium(tmp_path / "profile")
        try:
            browser.open(inspector.url + "/#step/0", "step")
            error = browser.js("document.getElementById('error').textContent")
            assert "not a database" in error
            assert browser.js("getComputedStyle(document.getElementById('error')).display") == "block"
            browser.call("Page.navigate", url=inspector.url + "/no/such/page")
            deadline = time.monotonic() + TIMEOUT_S
            while browser.js("document.querySelector('h1') ? document.querySelector('h1').textContent : ''") == "":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert "error 404" in browser.js("document.querySelector('h1').textContent")
            check_png(browser.screenshot("error"))
        finally:
            browser.close()
