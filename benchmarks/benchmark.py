"""Prediction speed of the ONNX engine, the Keras engine and a bare onnxruntime session.

Run from the repository root (it reads the BigML fixtures, like the tests):

    python3 benchmarks/benchmark.py [rows] [images] [--plot FILE.svg]

It prints, for each measurement, the median, min and max over many runs and
the target it is held to. Nothing here is a test: a missed target is printed,
not raised. "onnx" and "keras" go through the public API (`create_model`,
`model(rows)`); "ort floor" calls an onnxruntime session on the same graph
with the input matrix already encoded, the least any engine could cost.
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
FIXTURES = Path(os.environ.get("SENSENET_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))

from benchmarks.plot import Chart, plot_path  # noqa: E402
from sensenet.engines.onnx.deepnet import INPUT_NAME, deepnet_graph, image_input_name  # noqa: E402
from sensenet.engines.onnx.engine import session_options, session_threads  # noqa: E402
from sensenet.inputs import load_image, rescale  # noqa: E402
from sensenet.models.wrappers import create_model  # noqa: E402

# What --plot draws: one row per engine for each row model, and MobileNetV2 per image.
CHART = Chart("Prediction latency, median (benchmarks/benchmark.py)")

ENSEMBLE_CASES = (2, 3, 5, 6, 2)
PHOTO = "images/dog.jpg"  # an 800x600 JPEG
IMAGE_BATCH = 32  # regression.json.gz cases sharing one `preprocess` (5 and 6 have trees)
BATCH_ROWS = 10_000

COLD_START = """
import json, sys, time
start = time.perf_counter()
from sensenet.models.wrappers import create_model
imported = time.perf_counter()
model = create_model(sys.argv[1], {"engine": sys.argv[2]})
created = time.perf_counter()
model(json.loads(sys.argv[3]))
predicted = time.perf_counter()
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({
    "import": imported - start, "create_model": created - imported, "first prediction": predicted - created,
    "peak_mb": peak_kb / 1024, "tensorflow imported": "tensorflow" in sys.modules,
}))
"""


def load_cases(name: str) -> list:
    with gzip.open(FIXTURES / name) as stream:
        return json.load(stream)


def ensemble(cases: list[dict]) -> dict:
    first = cases[0]["model"]
    return {
        "preprocess": first["preprocess"],
        "output_exposition": first["output_exposition"],
        "networks": [{"layers": c["model"]["layers"], "trees": c["model"]["trees"] or False} for c in cases],
    }


def timings(call: Callable[[], object], runs: int, warmup: int = 20) -> list[float]:
    """Seconds per call, one figure per call."""
    for _ in range(warmup):
        call()
    result = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        result.append(time.perf_counter() - start)
    return result


def interleaved(calls: dict[str, Callable[[], object]], runs: int, warmup: int = 5) -> dict[str, list[float]]:
    """Seconds per call of each, the calls taken in turn: a busy machine slows them all alike."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    result: dict[str, list[float]] = {label: [] for label in calls}
    for _ in range(runs):
        for label, call in calls.items():
            start = time.perf_counter()
            call()
            result[label].append(time.perf_counter() - start)
    return result


def summary(values: list[float], scale: float, unit: str) -> str:
    scaled = [v * scale for v in values]
    return f"median {statistics.median(scaled):10.1f} {unit}  (min {min(scaled):.1f}, max {max(scaled):.1f})"


def verdict(value: float, target: float, unit: str, higher_is_better: bool = False) -> str:
    met = value >= target if higher_is_better else value <= target
    if met:
        return f"target {'>=' if higher_is_better else '<='} {target:g} {unit}: met"
    gap = target - value if higher_is_better else value - target
    return f"target {'>=' if higher_is_better else '<='} {target:g} {unit}: MISSED by {gap:.3g} {unit}"


def floor_session(network: dict):
    import onnxruntime

    model = create_model(network)
    graph = deepnet_graph(model.spec, model.settings).SerializeToString()
    threads = session_threads(None, model.spec.image_network is not None)  # the model's own threads
    options = session_options(threads)
    return model, onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def one_row(label: str, network: dict, row: list, target_us: float | None = None, keras: bool = True) -> None:
    onnx_model, session = floor_session(network)
    matrix = onnx_model.encode(row)
    figures = interleaved(
        {"onnx": lambda: onnx_model(row), "ort floor": lambda: session.run(None, {INPUT_NAME: matrix})}, 5000
    )
    if keras:
        keras_model = create_model(network, {"engine": "keras"})
        figures["keras"] = timings(lambda: keras_model(row), 500)
    print(f"\none row through the public API (a Python list): {label}")
    for engine, values in figures.items():
        print(f"  {engine:10s} {summary(values, 1e6, 'us')}")
        CHART.add(f"one row: {label}", engine, statistics.median(values) * 1e6, "us")
    ratio = statistics.median(figures["onnx"]) / statistics.median(figures["ort floor"])
    print(f"  onnx / ort floor: {ratio:.2f}x  {verdict(ratio, 1.5, 'x')}")
    if target_us is not None:
        print(f"  {verdict(statistics.median(figures['onnx']) * 1e6, target_us, 'us')}")


def wide_network(numeric: int = 600, categorical: int = 41, values: int = 5) -> tuple[dict, list]:
    """A 641-input classifier (numeric and categorical fields) and one row for it."""
    rng = np.random.default_rng(0)
    preprocess = [{"type": "numeric", "index": i, "mean": 0.0, "stdev": 1.0} for i in range(numeric)] + [
        {"type": "categorical", "index": numeric + i, "values": [f"v{j}" for j in range(values)]}
        for i in range(categorical)
    ]
    width = numeric + categorical * values
    network = {
        "preprocess": preprocess,
        "layers": [
            {
                "type": "dense",
                "weights": rng.normal(size=(width, 16)).tolist(),
                "offset": [0.0] * 16,
                "activation_function": "relu",
            },
            {
                "type": "dense",
                "weights": rng.normal(size=(16, 3)).tolist(),
                "offset": [0.0] * 3,
                "activation_function": "softmax",
            },
        ],
        "output_exposition": {"type": "categorical", "values": ["a", "b", "c"]},
        "trees": None,
    }
    row = rng.normal(size=numeric).tolist() + [f"v{i % values}" for i in range(categorical)]
    return network, row


def input_forms(label: str, network: dict, row: list) -> None:
    """10,000 rows given as lists, dicts and a DataFrame, against the same rows as a ready array."""
    import pandas

    model = create_model(network)
    rows = [list(row) for _ in range(BATCH_ROWS)]
    records = [{field.name: row[field.index] for field in model.fields} for _ in range(BATCH_ROWS)]
    frame = pandas.DataFrame(records)
    array = model.encode(rows)
    calls = {
        "ready array": lambda: model(array),
        "lists": lambda: model(rows),
        "dicts": lambda: model(records),
        "DataFrame": lambda: model(frame),
    }
    figures = interleaved(calls, 30, warmup=3)
    floor = statistics.median(figures["ready array"])
    print(f"\n{BATCH_ROWS:,} rows by input form: {label}")
    for source, values in figures.items():
        ratio = statistics.median(values) / floor
        print(f"  {source:12s} {summary(values, 1e3, 'ms')}  {ratio:.2f}x  {verdict(ratio, 1.5, 'x')}")


def many_rows(label: str, network: dict, row: list) -> None:
    onnx_model, session = floor_session(network)
    keras_model = create_model(network, {"engine": "keras"})
    rows = [list(row) for _ in range(BATCH_ROWS)]
    array = np.repeat(onnx_model.encode(row), BATCH_ROWS, axis=0)
    print(f"\n{BATCH_ROWS:,} rows: {label}  (rows/s, median of per-call rates)")
    for source, data, target in (("2-D array", array, 1_000_000), ("list of lists", rows, 200_000)):
        figures = {
            "onnx": timings(lambda data=data: onnx_model(data), 30, warmup=3),
            "keras": timings(lambda data=data: keras_model(data), 10, warmup=3),
            "ort floor": timings(lambda: session.run(None, {INPUT_NAME: array}), 30, warmup=3),
        }
        print(f"  from a {source}:")
        for engine, values in figures.items():
            rates = [BATCH_ROWS / v for v in values]
            print(
                f"    {engine:10s} median {statistics.median(rates):12,.0f} rows/s  "
                f"(min {min(rates):,.0f}, max {max(rates):,.0f})"
            )
        rate = BATCH_ROWS / statistics.median(figures["onnx"])
        print(f"    {verdict(rate, target, 'rows/s', higher_is_better=True)}")


BARE_START = """
import json, sys, time
start = time.perf_counter()
import numpy as np
import onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
session.run(None, {session.get_inputs()[0].name: np.asarray(json.loads(sys.argv[2]), np.float32)})
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def run_child(script: str, *args: str) -> tuple[float, dict]:
    """Wall seconds of a fresh interpreter running `script` (start to exit), and its JSON report.

    The child reads its own peak RSS (VmHWM): the parent's rusage would count the
    memory of the forked parent before exec. It may write bytecode, as an installed
    package has it (pip compiles it at install): with PYTHONDONTWRITEBYTECODE set, as
    on some machines, every start would compile sensenet's sources again (about 50 ms)
    while numpy and onnxruntime come precompiled.
    """
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        cwd=REPO_ROOT,
        text=True,
        check=True,
        env=environment,
    )
    return time.perf_counter() - start, json.loads(done.stdout)


def cold_start(network: dict, row: list, directory: Path) -> None:
    path = directory / "dense.json"
    path.write_bytes(orjson.dumps({"deepnet": {"network": network}}))
    print("\ncold start in a fresh process (import, create_model from a file, first prediction)")
    for engine, runs in (("onnx", 7), ("keras", 3)):
        run_child(COLD_START, str(path), engine, json.dumps(row))  # compiles bytecode, if need be
        results = [run_child(COLD_START, str(path), engine, json.dumps(row)) for _ in range(runs)]
        walls, peaks = [r[0] for r in results], [r[1]["peak_mb"] for r in results]
        steps = ("import", "create_model", "first prediction")
        parts = {key: statistics.median(r[1][key] for r in results) for key in steps}
        print(f"  {engine:6s} wall {summary(walls, 1e3, 'ms')}")
        print(f"  {engine:6s} peak RSS {summary(peaks, 1, 'MB')}")
        print(
            "         in the child: "
            + ", ".join(f"{key} {value * 1e3:.0f} ms" for key, value in parts.items())
            + f"; tensorflow imported: {results[0][1]['tensorflow imported']}"
        )
        if engine == "onnx":
            print(f"  {verdict(statistics.median(walls), 0.6, 's')}")
            print(f"  {verdict(statistics.median(peaks), 200, 'MB')}")
            onnx_walls = walls
    from sensenet.models.wrappers import convert

    exported = directory / "dense.onnx"
    convert(str(path), None, exported, "onnx", self_contained=False)  # the graph that reads the matrix
    matrix = json.dumps(create_model(str(path)).encode(row).tolist())
    bare = [run_child(BARE_START, str(exported), matrix)[0] for _ in range(7)]
    ratio = statistics.median(onnx_walls) / statistics.median(bare)
    print(f"  bare process (numpy + onnxruntime, exported graph, one row) wall {summary(bare, 1e3, 'ms')}")
    print(f"  sensenet cold start / bare process: {ratio:.2f}x  {verdict(ratio, 2.0, 'x')}")


def large_network(widths: list[int], seed: int = 0) -> dict:
    """A regression net of dense layers with the given widths (the first is the input width)."""
    rng = np.random.default_rng(seed)
    layers = [
        {
            "type": "dense",
            "weights": (rng.normal(size=(n_in, n_out)) / np.sqrt(n_in)).tolist(),
            "offset": np.zeros(n_out).tolist(),
            "activation_function": "relu" if n_out > 1 else "identity",
        }
        for n_in, n_out in zip(widths, widths[1:])
    ]
    preprocess = [{"type": "numeric", "index": i, "mean": 0.0, "stdev": 1.0} for i in range(widths[0])]
    output = {"type": "numeric", "mean": 0.0, "stdev": 1.0}
    return {"preprocess": preprocess, "layers": layers, "output_exposition": output}


def create_model_time(directory: Path) -> None:
    widths = [100, 1024, 1024, 1024, 1024, 1]
    path = directory / "large.json"
    path.write_bytes(orjson.dumps({"deepnet": {"network": large_network(widths)}}))
    row = [0.5] * widths[0]
    size = path.stat().st_size / 1e6
    parse = timings(lambda: orjson.loads(path.read_bytes()), 5, warmup=1)
    create = timings(lambda: create_model(str(path)), 5, warmup=1)
    first = timings(lambda: create_model(str(path))(row), 5, warmup=1)
    print(f"\ncreate_model on a {size:.0f} MB JSON ({'-'.join(map(str, widths))} dense net)")
    print(f"  read + parse JSON alone       {summary(parse, 1e3, 'ms')}")
    print(f"  create_model                  {summary(create, 1e3, 'ms')}")
    print(f"  create_model + first predict  {summary(first, 1e3, 'ms')}  (builds the ONNX session)")
    extra = statistics.median(create) - statistics.median(parse)
    extra_first = statistics.median(first) - statistics.median(parse)
    print(f"  create_model - parse: {verdict(extra, 0.3, 's')}")
    print(f"  create_model + first prediction - parse: {verdict(extra_first, 0.3, 's')}")


def print_figures(figures: dict[str, list[float]], scale: float = 1e3, unit: str = "ms") -> None:
    for label, values in figures.items():
        print(f"  {label:44s} {summary(values, scale, unit)}")


def mobilenet_v2() -> None:
    """MobileNetV2 as BigML describes it (weights generated from the initializer names)."""
    with gzip.open(FIXTURES / "pretrained_topologies.json.gz") as stream:
        topology = json.load(stream)["mobilenetv2"]
    onnx_model, session = floor_session(topology)
    keras_model = create_model(topology, {"engine": "keras"})
    meta = onnx_model.spec.image_network.metadata
    path = str(FIXTURES / PHOTO)
    pixels = rescale(load_image(path), meta.height, meta.width, meta.rescale_type)  # uint8 224x224x3
    batch = np.stack([pixels] * IMAGE_BATCH)
    feed = {image_input_name(0): onnx_model.encode_inputs(pixels)[1][0]}
    feed_batch = {image_input_name(0): onnx_model.encode_inputs(batch)[1][0]}
    image = load_image(path)

    print(f"\nMobileNetV2 ({meta.height}x{meta.width}, generated weights): create_model + first prediction")
    print_figures(
        {
            f"{engine} (builds the {engine} graph)": timings(
                lambda engine=engine: create_model(topology, {"engine": engine})(pixels), 3, warmup=1
            )
            for engine in ("onnx", "keras")
        }
    )
    print(f"\nMobileNetV2 ({meta.height}x{meta.width}, generated weights), one image, calls taken in turn")
    onnx_label, floor_label = "onnx, 224x224 uint8 pixel array", "ort floor, float32 batch given"
    figures = interleaved(
        {
            onnx_label: lambda: onnx_model(pixels),
            floor_label: lambda: session.run(None, feed),
            "keras, 224x224 uint8 pixel array": lambda: keras_model(pixels),
            f"onnx, JPEG path ({PHOTO})": lambda: onnx_model(path),
            f"keras, JPEG path ({PHOTO})": lambda: keras_model(path),
        },
        100,
    )
    print_figures(figures)
    for label, values in figures.items():
        CHART.add("MobileNetV2, one image", label, statistics.median(values) * 1e3, "ms")
    ratio = statistics.median(figures[onnx_label]) / statistics.median(figures[floor_label])
    print(f"  onnx from pixels / ort floor = {ratio:.2f}: {verdict(ratio, 1.2, 'x')}")
    print(
        f"  where a JPEG path's time goes ({image.shape[1]}x{image.shape[0]} {PHOTO}, "
        f"rescale '{meta.rescale_type}'):"
    )
    print_figures(
        interleaved(
            {
                "  decode (load_image)": lambda: load_image(path),
                "  resize (rescale)": lambda: rescale(image, meta.height, meta.width, meta.rescale_type),
                "  pixels to float32 batch (encode_inputs)": lambda: onnx_model.encode_inputs(pixels),
                "  network (ort session)": lambda: session.run(None, feed),
            },
            100,
        )
    )
    print(f"\nMobileNetV2, a batch of {IMAGE_BATCH} images from a 4-D uint8 array")
    print_figures(
        {
            "onnx": timings(lambda: onnx_model(batch), 10, warmup=2),
            "keras": timings(lambda: keras_model(batch), 5, warmup=2),
            "ort floor, float32 batch given": timings(lambda: session.run(None, feed_batch), 10, warmup=2),
        }
    )


def rows() -> None:
    regression = load_cases("regression.json.gz")
    dense_case, trees_case = regression[0], regression[1]
    ensemble_network = ensemble([regression[i] for i in ENSEMBLE_CASES])
    row_of = lambda case: case["validation"][0]["input"]  # noqa: E731

    one_row("dense net (regression.json.gz case 0)", dense_case["model"], row_of(dense_case), 25)
    one_row(
        "tree-embedding net (regression.json.gz case 1, 80 trees)",
        trees_case["model"],
        row_of(trees_case),
        40,
    )
    one_row(
        f"5-network ensemble (regression.json.gz cases {ENSEMBLE_CASES})",
        ensemble_network,
        row_of(regression[ENSEMBLE_CASES[0]]),
        50,
    )
    wide, wide_row = wide_network()
    one_row("641-input net (600 numeric, 41 categorical fields)", wide, wide_row, keras=False)
    many_rows("dense net (regression.json.gz case 0)", dense_case["model"], row_of(dense_case))
    input_forms("dense net (regression.json.gz case 0)", dense_case["model"], row_of(dense_case))
    with tempfile.TemporaryDirectory() as directory:
        cold_start(dense_case["model"], row_of(dense_case), Path(directory))
        create_model_time(Path(directory))


PARTS: dict[str, Callable[[], None]] = {"rows": rows, "images": mobilenet_v2}


def main() -> None:
    """Every part, or those named on the command line (rows, images); --plot FILE draws CHART."""
    plot, named = plot_path(sys.argv[1:])
    chosen = named or list(PARTS)
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        sys.exit(f"unknown part(s) {unknown}; expected some of {list(PARTS)}")
    print(f"sensenet benchmark: python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for part in chosen:
        PARTS[part]()
    if plot:
        CHART.write(plot)


if __name__ == "__main__":
    main()
