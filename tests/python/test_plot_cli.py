"""`r1 plot`: runs' metrics.jsonl curves as one SVG, read back with an XML parser, or as a PNG of that SVG, decoded
here: the SVG's size, white paper, and the runs' curve colours drawn."""
import json
import struct
import xml.etree.ElementTree as ET
import zlib

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
             ((a, "--out", tmp_path / "x.gif"), "expected a .svg or .png file")]
    for args, message in cases:
        result = r1("plot", *args, check=False)
        assert result.returncode != 0
        assert message in result.stderr, result.stderr
    assert not (tmp_path / "x.svg").exists()


def png_pixels(data):
    """(width, height, rows of (r, g, b, a)) of an 8-bit RGBA or RGB PNG, unfiltered."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = header[:4]
    assert depth == 8 and colour in (2, 6)
    bpp = 4 if colour == 6 else 3
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pred = [0, a, b, (a + b) // 2,
                    a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c]
            line[i] = (line[i] + pred[kind]) & 0xFF
        rows.append([tuple(line[x * bpp:(x + 1) * bpp]) + ((255,) if bpp == 3 else ()) for x in range(width)])
        prev = line
    return width, height, rows


def test_png_is_the_svg_drawn(tmp_path):
    a = run_dir(tmp_path, "a", [{"step": s, "reward": s / 10} for s in range(1, 8)])
    b = run_dir(tmp_path, "b", [{"step": s, "reward": 0.5 - s / 30} for s in range(1, 8)])
    r1("plot", a, b, "--out", tmp_path / "curves.svg")
    r1("plot", a, b, "--out", tmp_path / "curves.png")
    root = ET.parse(tmp_path / "curves.svg").getroot()
    width, height, rows = png_pixels((tmp_path / "curves.png").read_bytes())
    assert (width, height) == (int(float(root.get("width"))), int(float(root.get("height"))))
    pixels = [p for row in rows for p in row]
    assert pixels[0] == (255, 255, 255, 255)  # white paper, not transparent
    blue = sum(1 for r, g, b_, _ in pixels if b_ > r + 80 and b_ > g + 20)  # run 0: #1f77b4
    red = sum(1 for r, g, b_, _ in pixels if r > g + 80 and r > b_ + 80)  # run 1: #d62728
    assert blue > 20 and red > 20
