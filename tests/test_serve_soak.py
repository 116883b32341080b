"""30 seconds of benchmarks/serve_soak.py: a real server at 80% of its capacity with good, bad and
abandoned requests keeps its memory and its file descriptors."""

from __future__ import annotations

import pytest

from benchmarks.serve_soak import soak
from benchmarks.traffic import Server, get_json, request_bytes, write_model
from tests.conftest import fixture_path

pytest.importorskip("uvicorn")


def test_a_30_second_soak_keeps_memory_and_descriptors(tmp_path):
    fixture_path("image_regression.json.gz")
    path, rows = write_model("image", tmp_path)
    server = Server([path], ["--drain-seconds", "0"], tmp_path / "server.log")
    server.start()
    try:
        fields = get_json(server.port, "/v2/models/image")["inputs"]
        result = soak(
            server, request_bytes("image", "binary", fields, rows[:1]), 30.0, 10.0, report=lambda _: None
        )
        stats = get_json(server.port, "/v2/models/image/stats")["model_stats"][0]
    finally:
        assert server.stop() == 0
    outcomes = sum((sample.outcomes for sample in result.samples), start=type(result.samples[0].outcomes)())
    assert set(outcomes) == {"good: 200", "bad: 400", "abandoned"}, outcomes
    assert outcomes["good: 200"] > 8 * outcomes["bad: 400"] * 0.9
    assert result.rss_growth() <= 1.05, [sample.rss_mb for sample in result.samples]
    assert result.descriptors_after == result.descriptors_before
    # Every request the server saw is accounted for: answered, failed, or dropped with its client.
    assert stats["inference_stats"]["success"]["count"] >= outcomes["good: 200"]
