"""The inspector's page in headless Chromium on a large run: seconds from navigation until the overview (curves
and steps table) and a step view are drawn. Make the run with bench/inspect_bench.cc first. Prints; asserts nothing.
    .venv/bin/python bench/bench_inspect_page.py --r1 build/r1 --run /tmp/inspect_bench [--step 488]
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
import r1_cli  # noqa: E402


def timed(browser, url, view):
    t0 = time.monotonic()
    browser.open(url, view)
    return time.monotonic() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--r1", default="build/r1")
    parser.add_argument("--run", required=True)
    parser.add_argument("--step", type=int, default=None)
    o = parser.parse_args()
    r1_cli.R1 = o.r1
    from test_inspect_page import Chromium  # after R1 is set: it places its artefacts beside it
    with tempfile.TemporaryDirectory() as tmp, r1_cli.Inspector(o.run, log=Path(tmp) / "inspect.log") as inspector:
        browser = Chromium(Path(tmp) / "profile")
        try:
            for attempt in (1, 2):
                overview = timed(browser, inspector.url + "/", "overview")
                panels = browser.js("document.querySelectorAll('svg.panel').length")
                rows = browser.js("document.querySelectorAll('tr.step-row').length")
                step = o.step if o.step is not None else rows // 2
                step_view = timed(browser, f"{inspector.url}/#step/0/{step}", "step")
                samples = browser.js("document.querySelectorAll('tr.sample').length")
                print(f"pass {attempt}: overview {overview:.2f} s ({panels} panels, {rows} steps); "
                      f"step {step} {step_view:.2f} s ({samples} samples)")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
