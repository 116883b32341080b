"""Start-up: a fresh sensenet process against a bare numpy + onnxruntime process on the same graph.

    python benchmarks/startup.py              # the repository's sensenet
    python benchmarks/startup.py --installed  # the sensenet installed in this interpreter

For three models (the shipped iris example, BigML's TinyYOLOv4 eye detector from the fixtures,
and a MobileNetV2-topology classifier with generated weights inline in its JSON, as BigML
writes them), it runs fresh processes, interleaved, 9 rounds, each with a fresh HOME:

- bare: ``import numpy, onnxruntime`` (and Pillow for an image model), open the graph the engine
  builds (written beforehand), fit the photo (or load the row's matrix) and run it once;
- no cache: the whole ``sensenet predict`` (``detect`` for the detector) process with
  ``--no-cache``, as it ran before the compiled-model cache (the first run's reference);
- first run: the same command, its compiled-model cache empty (a new HOME);
- rerun: the same command again, the cache filled by an earlier run in that HOME;
- in-process: ``import sensenet.models.wrappers``, ``create_model`` from the JSON file (the
  Python API: no cache by default), the first prediction, timed inside the child, against the
  bare child's own import-to-result time.

and prints the medians of wall time, CPU time and peak memory (the child's ru_maxrss), and
their ratios to bare (targets: rerun <= 1.5x wall and memory for the image models, every cli
run <= 2x wall for iris, in-process <= 1.5x). Children run in an empty directory and may write
bytecode, as a pip install has it compiled; a first run of each kind compiles it and is not
counted. The models are prepared in a child process, so that this process stays small: a
child's ru_maxrss starts from its parent's peak. The machine's load average is printed with
the figures. Nothing here is a test.

Every kind runs under the same conditions: the same environment but HOME, the same warm files,
its first run not counted. A round runs each model's five processes together (what the machine
does meanwhile is alike for them), the models in turn first and each model's kinds in an order
shuffled anew each round (seeded, so every run alike): no kind always follows the same one or
sits in the same place. A fresh HOME is removed as its process ends, before the cache entry a
first run wrote there reaches the disk (tens of MB for the image models, which the kernel would
otherwise write back some 30 s later, during whichever process runs then).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
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
CLI_TARGET, RERUN_TARGET, IN_PROCESS_TARGET = 2.0, 1.5, 1.5
MEASURES = ("wall", "cpu", "memory")
KINDS = ("bare", "no cache", "first run", "rerun", "in-process")
ROUNDS = 9

BARE = """
import time
start, cpu = time.perf_counter(), time.process_time()
import sys
import numpy as np
import onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
feed = session.get_inputs()[0]
if sys.argv[2].endswith(".npy"):
    data = np.load(sys.argv[2])
else:  # a photo: decoded and warped to the network's input, as a user's own script would
    from PIL import Image
    height, width = feed.shape[1:3]
    image = Image.open(sys.argv[2]).convert("RGB").resize((width, height), Image.BILINEAR)
    data = np.asarray(image, np.float32)[np.newaxis]
session.run(None, {feed.name: data})
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


def _child_environment(installed: bool, home: Path) -> dict[str, str]:
    """This environment less what would move the cache or bytecode, HOME a fresh directory."""
    dropped = ("PYTHONDONTWRITEBYTECODE", "SENSENET_CACHE", "SENSENET_CACHE_DIR", "XDG_CACHE_HOME")
    environment = {key: value for key, value in os.environ.items() if key not in dropped}
    environment["HOME"] = str(home)
    if not installed:
        environment["PYTHONPATH"] = str(REPO_ROOT)
    return environment


def _run(command: list[str], directory: Path, environment: dict[str, str]) -> tuple[float, float, float, str]:
    """Wall and CPU (user + system) seconds of the whole process, its peak memory (MB, the
    child's own ru_maxrss), and the last line it printed."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, cwd=directory, env=environment)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if child.returncode != 0:
            sys.exit(f"{' '.join(command[:4])} ... failed:\n{err.read()[-3000:]}")
        lines = out.read().strip().splitlines()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, lines[-1] if lines else ""


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
        cli = [sys.executable, "-m", "sensenet", *arguments, "-q"]
        prepared[name] = {
            "bare": [sys.executable, "-c", BARE, f"{stem}.onnx", f"{stem}.npy" if name == "iris" else photo],
            "no cache": [*cli, "--no-cache"],
            "first run": cli,
            "rerun": cli,
            "in-process": [sys.executable, "-c", IN_PROCESS, path, json.dumps(example)],
        }
    return prepared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--installed", action="store_true", help="time the installed sensenet")
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help=f"timed runs of each process (default: {ROUNDS})"
    )
    parser.add_argument("--prepare", metavar="DIR", help=argparse.SUPPRESS)  # the child writing the models
    parser.add_argument("--plot", metavar="SVG", help="also draw the medians (benchmarks/plot.py)")
    arguments = parser.parse_args()
    installed, rounds = arguments.installed, arguments.rounds
    if arguments.prepare:
        if not installed:
            sys.path.insert(0, str(REPO_ROOT))
        import sensenet

        prepared = _prepare(Path(arguments.prepare))
        print(json.dumps({"package": sensenet.__file__, "prepared": prepared}))
        return
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        preparing = [sys.executable, __file__, "--prepare", name, *(["--installed"] if installed else [])]
        environment = _child_environment(installed, directory)
        done = subprocess.run(preparing, capture_output=True, text=True, env=environment, timeout=1200)
        if done.returncode != 0:
            sys.exit(f"preparing the models failed:\n{done.stderr[-3000:]}")
        report = json.loads(done.stdout.strip().splitlines()[-1])
        prepared = report["prepared"]
        print(
            f"sensenet startup: {report['package']}, python {sys.version.split()[0]}, {os.cpu_count()} cores"
        )
        print(f"load average before: {_load()}")
        homes = directory / "homes"  # apart: the children's working directory (sys.path[0]) stays as it is
        homes.mkdir()
        kept = {model: Path(tempfile.mkdtemp(dir=homes)) for model in prepared}  # filled for reruns

        def run(model: str, kind: str) -> tuple[float, float, float, str]:
            home = kept[model] if kind == "rerun" else Path(tempfile.mkdtemp(dir=homes))
            try:
                return _run(prepared[model][kind], directory, _child_environment(installed, home))
            finally:
                if kind != "rerun":
                    shutil.rmtree(home)

        for model, kind in [(model, kind) for model in prepared for kind in KINDS]:
            run(model, kind)  # compiles bytecode, fills the OS cache and the reruns' caches
        # (model, kind, "process" or "inside", measure) -> one value per round
        figures: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
        for order in _orders(list(prepared), rounds):
            for model, kind in order:
                wall, cpu, memory, printed = run(model, kind)
                for measure, value in zip(MEASURES, (wall, cpu, memory)):
                    figures[model, kind, "process", measure].append(value)
                if kind in ("bare", "in-process"):
                    inside_wall, inside_cpu = map(float, printed.split())
                    figures[model, kind, "inside", "wall"].append(inside_wall)
                    figures[model, kind, "inside", "cpu"].append(inside_cpu)
    _report(list(prepared), figures, rounds)
    print(f"load average after: {_load()}")
    if arguments.plot:
        _chart(list(prepared), figures).write(arguments.plot)


def _orders(models: list[str], rounds: int) -> list[list[tuple[str, str]]]:
    """Each round's (model, kind) order: a model's kinds together, shuffled; the models in turn."""
    shuffler = random.Random(0)
    orders = []
    for round_ in range(rounds):
        turn = models[round_ % len(models) :] + models[: round_ % len(models)]
        orders.append([(model, kind) for model in turn for kind in shuffler.sample(KINDS, len(KINDS))])
    return orders


def _chart(models: list[str], figures: dict) -> Any:
    """The wall-time medians, a panel per model: each sensenet process beside the bare one."""
    from benchmarks.plot import Chart

    chart = Chart("Start-up: a fresh process, sensenet against bare onnxruntime (benchmarks/startup.py)")
    kinds = [
        ("bare", "process", "bare process: import numpy + onnxruntime, run"),
        ("no cache", "process", "the whole sensenet command, --no-cache"),
        ("first run", "process", "the whole sensenet command, first run"),
        ("rerun", "process", "the whole sensenet command, rerun (cache filled)"),
        ("in-process", "inside", "import + create_model + first prediction"),
    ]
    for model in models:
        for kind, span, label in kinds:
            chart.add(model, label, 1e3 * statistics.median(figures[model, kind, span, "wall"]), "ms, wall")
    return chart


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _report(models: list[str], figures: dict, rounds: int) -> None:
    """Medians, and their ratios to the bare process's; CPU time, which other load on the machine
    disturbs less than wall time, beside the wall time; peak memory of the whole process."""
    print(f"medians of {rounds} runs: wall ms / cpu ms / peak MB (ratio to bare: wall, cpu, memory)")

    def compared(model: str, kind: str, span: str, target: float) -> str:
        measures = MEASURES if span == "process" else MEASURES[:2]
        mine = [statistics.median(figures[model, kind, span, measure]) for measure in measures]
        bare = [statistics.median(figures[model, "bare", span, measure]) for measure in measures]
        shown, base = _shown(measures, mine), _shown(measures, bare)
        ratios = ", ".join(f"{a / b:4.2f}x" for a, b in zip(mine, bare))
        return f"bare {base}, sensenet {shown} ({ratios}; target <= {target}x)"

    labels = {
        "no cache": "cli, --no-cache (as before the cache):",
        "first run": "cli, first run (empty cache):",
        "rerun": "cli, rerun (cache filled):",
    }
    for model in models:
        print(f"  {model}")
        for kind, label in labels.items():
            target = RERUN_TARGET if kind == "rerun" and model != "iris" else CLI_TARGET
            print(f"    {label:42s}{compared(model, kind, 'process', target)}")
        in_process = compared(model, "in-process", "inside", IN_PROCESS_TARGET)
        print(f"    {'import + create_model + first prediction:':42s}{in_process}")


def _shown(measures: tuple[str, ...], values: list[float]) -> str:
    """Seconds as milliseconds, megabytes as they are."""
    return " / ".join(f"{value * (1 if m == 'memory' else 1e3):5.0f}" for m, value in zip(measures, values))


if __name__ == "__main__":
    main()
