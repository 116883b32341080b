"""benchmarks/plot.py: the pictures of the performance page, as SVG a browser and an XML parser read."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from benchmarks.plot import Chart, plot_path

SVG = "{http://www.w3.org/2000/svg}"


def test_a_chart_draws_one_bar_per_figure_proportional_within_its_panel(tmp_path):
    chart = Chart("one row <fast> & small")
    chart.add("one row", "onnx", 4.0, "us")
    chart.add("one row", "ort floor", 2.0, "us")
    chart.add("MobileNetV2", "onnx", 12.5, "ms")
    path = tmp_path / "pictures" / "chart.svg"
    chart.write(path)
    root = ET.parse(path).getroot()  # well-formed: the title's < and & are escaped
    bars = [rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]
    widths = {rect.find(f"{SVG}title").text: float(rect.get("width")) for rect in bars}
    assert widths["onnx: 4 us"] == pytest.approx(2 * widths["ort floor: 2 us"])
    assert widths["onnx: 12.5 ms"] == pytest.approx(widths["onnx: 4 us"])  # each panel its own scale
    texts = [text.text for text in root.iter(f"{SVG}text")]
    assert "one row <fast> & small" in texts and "one row (us)" in texts and "MobileNetV2 (ms)" in texts
    assert any(text.startswith("20") and "load average" in text and "cores" in text for text in texts)
    assert [p.name for p in path.parent.iterdir()] == ["chart.svg"]  # no staging file left


def test_a_panel_keeps_one_unit():
    chart = Chart("t")
    chart.add("p", "a", 1.0, "ms")
    with pytest.raises(ValueError, match="in ms, not us"):
        chart.add("p", "b", 1.0, "us")


def test_plot_path_takes_the_option_out_of_the_arguments():
    assert plot_path(["rows", "--plot", "a.svg", "images"]) == ("a.svg", ["rows", "images"])
    assert plot_path(["rows"]) == (None, ["rows"])
    with pytest.raises(SystemExit):
        plot_path(["--plot"])
