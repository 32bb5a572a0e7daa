"""`r1 plot`: runs' metrics.jsonl curves as one SVG, read back with an XML parser."""
import json
import xml.etree.ElementTree as ET

from r1_cli import r1

SVG = "{http://www.w3.org/2000/svg}"


def run_dir(tmp_path, name, rows):
    d = tmp_path / name
    d.mkdir()
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def points(polyline):
    return [tuple(map(float, p.split(","))) for p in polyline.get("points").split()]


def test_panels_curves_and_points(tmp_path):
    a = run_dir(tmp_path, "a", [{"step": s, "reward": s / 10, "loss": 1.0 - s / 20, "epoch": 0.5} for s in range(1, 8)])
    b = run_dir(tmp_path, "b", [{"step": s, "reward": 0.2, "kl": 0.01 * s} for s in range(1, 5)])
    out = tmp_path / "curves.svg"
    r1("plot", a, b, "--out", out)
    root = ET.parse(out).getroot()
    panels = {g.get("data-metric"): g for g in root.iter(SVG + "g") if g.get("class") == "panel"}
    assert sorted(panels) == ["epoch", "kl", "loss", "reward"]
    reward = panels["reward"].findall(SVG + "polyline")
    assert [p.get("data-run") for p in reward] == ["0", "1"]  # both runs overlaid
    pa, pb = points(reward[0]), points(reward[1])
    assert len(pa) == 7 and len(pb) == 4  # one point per logged step
    assert all(x1 < x2 for (x1, _), (x2, _) in zip(pa, pa[1:]))
    assert all(y1 > y2 for (_, y1), (_, y2) in zip(pa, pa[1:]))  # rising reward goes up the page
    assert len(panels["kl"].findall(SVG + "polyline")) == 1  # only b logged kl
    legend = [t.text for g in root.iter(SVG + "g") if g.get("class") == "legend" for t in g.iter(SVG + "text")]
    assert legend == [str(a), str(b)]

    only = tmp_path / "only.svg"
    r1("plot", a, "--out", only, "--metrics", "loss")
    root = ET.parse(only).getroot()
    assert [g.get("data-metric") for g in root.iter(SVG + "g") if g.get("class") == "panel"] == ["loss"]


def test_errors_name_the_file_line_or_metric(tmp_path):
    a = run_dir(tmp_path, "a", [{"step": 1, "reward": 0.5}])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metrics.jsonl").write_text('{"step": 1, "reward": 0.5}\n{"step": 2, "rew\n')
    cases = [((a, "--out", tmp_path / "x.svg", "--metrics", "accuracy"), "metric 'accuracy' is in no run's metrics.jsonl"),
             ((bad, "--out", tmp_path / "x.svg"), f"{bad}/metrics.jsonl:2"),
             ((tmp_path / "missing", "--out", tmp_path / "x.svg"), "metrics.jsonl: cannot be read"),
             ((a, "--out", tmp_path / "x.png"), "expected a .svg file")]
    for args, message in cases:
        result = r1("plot", *args, check=False)
        assert result.returncode != 0
        assert message in result.stderr, result.stderr
    assert not (tmp_path / "x.svg").exists()
