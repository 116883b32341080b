"""Start-up: a fresh sensenet process against a bare numpy + onnxruntime process on the same graph.

    python benchmarks/startup.py              # the repository's sensenet
    python benchmarks/startup.py --installed  # the sensenet installed in this interpreter
    python benchmarks/startup.py --plot startup.svg  # also the figures as a picture

For three models (the shipped iris example, BigML's TinyYOLOv4 eye detector from the fixtures,
and a MobileNetV2-topology classifier with generated weights inline in its JSON, as BigML
writes them), it times in fresh processes, interleaved, 7 rounds:

- bare: ``import numpy, onnxruntime``, open the graph the engine builds (written beforehand),
  run it on one input already encoded (the row's matrix, the fitted pixels);
- cli: the whole ``sensenet predict`` (``detect`` for the detector) process on the same input;
- in-process: ``import sensenet.models.wrappers``, ``create_model`` from the JSON file, the
  first prediction, timed inside the child, against the bare child's own import-to-result time.

and prints medians and the ratios to bare (targets: cli <= 2x, in-process <= 1.5x). Children
run in an empty directory and may write bytecode, as a pip install has it compiled; a first
run of each kind compiles it and is not counted. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("SENSENET_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
CLI_TARGET, IN_PROCESS_TARGET = 2.0, 1.5
CLOCKS = ("wall", "cpu")

BARE = """
import time
start, cpu = time.perf_counter(), time.process_time()
import sys
import numpy as np
import onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
session.run(None, {session.get_inputs()[0].name: np.load(sys.argv[2])})
print(time.perf_counter() - start, time.process_time() - cpu)
"""

IN_PROCESS = """
import time
start, cpu = time.perf_counter(), time.process_time()
import json
import sys
from sensenet.models.wrappers import create_model
create_model(sys.argv[1])(json.loads(sys.argv[2]))
print(time.perf_counter() - start, time.process_time() - cpu)
"""


def _child_environment(installed: bool) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    if not installed:
        environment["PYTHONPATH"] = str(REPO_ROOT)
    return environment


def _run(command: list[str], directory: Path, environment: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU (user + system) seconds of the whole process, and the last line it printed."""
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=directory, env=environment, timeout=600
    )
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} ... failed:\n{done.stderr[-3000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, done.stdout.strip().splitlines()[-1]


def _mobilenet_v2(path: Path) -> None:
    """A MobileNetV2 classifier as BigML writes it, weights inline (generated, as the tests do)."""
    import gzip

    import orjson

    sys.path.append(str(REPO_ROOT))  # after site-packages: an installed sensenet stays first
    from tests.pretrained_helpers import with_generated_weights

    with gzip.open(FIXTURES / "pretrained_topologies.json.gz") as stream:
        topology = json.load(stream)["mobilenetv2"]
    network = with_generated_weights(topology, seed=3)
    path.write_bytes(orjson.dumps({"deepnet": {"network": network}}, option=orjson.OPT_SERIALIZE_NUMPY))


def _prepare(directory: Path) -> dict[str, dict]:
    """Each model's JSON file, the engine's graph and encoded input for the bare process, commands."""
    import numpy as np

    from sensenet.engines.onnx.deepnet import deepnet_graph
    from sensenet.engines.onnx.image import image_network_graph
    from sensenet.examples import example_path
    from sensenet.inputs import load_image, rescale
    from sensenet.models.wrappers import create_model

    photo = str(FIXTURES / "detection" / "pexels-pixabay-33358.jpg")
    with zipfile.ZipFile(FIXTURES / "detection" / "cats_eye_tinyyolov4.zip") as archive:
        (directory / "eyes.json").write_bytes(archive.read(archive.namelist()[0]))
    _mobilenet_v2(directory / "mobilenetv2.json")
    iris = str(example_path("iris"))
    models = {
        "iris": (iris, [5.1, 3.5, 1.4, 0.2], ["predict", "--example", "iris", "5.1,3.5,1.4,0.2"]),
        "eye detector": (
            str(directory / "eyes.json"),
            photo,
            ["detect", str(directory / "eyes.json"), photo],
        ),
        "mobilenetv2": (
            str(directory / "mobilenetv2.json"),
            photo,
            ["predict", str(directory / "mobilenetv2.json"), photo],
        ),
    }
    prepared = {}
    for name, (path, example, arguments) in models.items():
        model = create_model(path)
        stem = name.replace(" ", "_")
        if name == "eye detector":
            network = model.spec.image_network
            graph = image_network_graph(network, network.metadata.output_nodes)
            height, width = model._input_size
            encoded = rescale(load_image(photo), height, width, model._rescale_type)[np.newaxis]
        else:
            graph = deepnet_graph(model.spec, model.settings)
            matrix, images = model.encode_inputs([example] if name == "iris" else example)
            encoded = images[0] if images else matrix
        (directory / f"{stem}.onnx").write_bytes(graph.SerializeToString())
        np.save(directory / f"{stem}.npy", np.ascontiguousarray(encoded, np.float32))
        prepared[name] = {
            "bare": [sys.executable, "-c", BARE, f"{stem}.onnx", f"{stem}.npy"],
            "cli": [sys.executable, "-m", "sensenet", *arguments, "-q"],
            "in-process": [sys.executable, "-c", IN_PROCESS, path, json.dumps(example)],
        }
    return prepared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--installed", action="store_true", help="time the installed sensenet")
    parser.add_argument("--rounds", type=int, default=7, help="timed runs of each process (default: 7)")
    parser.add_argument("--plot", metavar="SVG", help="also draw the medians (benchmarks/plot.py)")
    arguments = parser.parse_args()
    installed, rounds = arguments.installed, arguments.rounds
    if not installed:
        sys.path.insert(0, str(REPO_ROOT))
    import sensenet

    environment = _child_environment(installed)
    print(f"sensenet startup: {sensenet.__file__}, python {sys.version.split()[0]}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        prepared = _prepare(directory)
        jobs = [(model, kind) for model in prepared for kind in ("bare", "cli", "in-process")]
        for model, kind in jobs:  # compiles bytecode, fills the OS cache
            _run(prepared[model][kind], directory, environment)
        # (model, kind, "process" or "inside", "wall" or "cpu") -> seconds, one per round
        times: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
        for round_ in range(rounds):
            for model, kind in jobs[round_ % len(jobs) :] + jobs[: round_ % len(jobs)]:
                wall, cpu, printed = _run(prepared[model][kind], directory, environment)
                times[model, kind, "process", "wall"].append(wall)
                times[model, kind, "process", "cpu"].append(cpu)
                if kind != "cli":
                    inside_wall, inside_cpu = map(float, printed.split())
                    times[model, kind, "inside", "wall"].append(inside_wall)
                    times[model, kind, "inside", "cpu"].append(inside_cpu)
    _report(list(prepared), times, rounds)
    if arguments.plot:
        _chart(list(prepared), times).write(arguments.plot)


def _chart(models: list[str], times: dict) -> Any:
    """The wall-time medians, a panel per model: each sensenet process beside the bare one."""
    from benchmarks.plot import Chart

    chart = Chart("Start-up: a fresh process, sensenet against bare onnxruntime (benchmarks/startup.py)")
    kinds = [
        ("bare", "process", "bare process: import numpy + onnxruntime, run"),
        ("cli", "process", "the whole sensenet command"),
        ("in-process", "inside", "import + create_model + first prediction"),
    ]
    for model in models:
        for kind, span, label in kinds:
            chart.add(model, label, 1e3 * statistics.median(times[model, kind, span, "wall"]), "ms, wall")
    return chart


def _report(models: list[str], times: dict, rounds: int) -> None:
    """Medians, and their ratios to the bare process's; CPU time, which other load on the machine
    disturbs less than wall time, beside the wall time."""
    print(f"medians of {rounds} runs, wall ms / cpu ms (ratio to bare: wall, cpu)")

    def compared(model: str, kind: str, span: str, target: float) -> str:
        wall, cpu = (statistics.median(times[model, kind, span, clock]) for clock in CLOCKS)
        bare_wall, bare_cpu = (statistics.median(times[model, "bare", span, clock]) for clock in CLOCKS)
        return (
            f"bare {bare_wall * 1e3:5.0f} / {bare_cpu * 1e3:5.0f}, "
            f"sensenet {wall * 1e3:5.0f} / {cpu * 1e3:5.0f} "
            f"({wall / bare_wall:4.2f}x, {cpu / bare_cpu:4.2f}x; target <= {target}x)"
        )

    for model in models:
        print(f"  {model}")
        print(f"    {'whole cli process:':42s}{compared(model, 'cli', 'process', CLI_TARGET)}")
        in_process = compared(model, "in-process", "inside", IN_PROCESS_TARGET)
        print(f"    {'import + create_model + first prediction:':42s}{in_process}")


if __name__ == "__main__":
    main()
