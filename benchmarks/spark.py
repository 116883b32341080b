"""Rows per second scoring generated rows of a fixture model on Spark (local[1], local[2]), against
the single-process library on the same rows (the floor), and where the time goes.

Run from the repository root (it reads the BigML fixtures, like the tests):

    python3 benchmarks/spark.py [rows] [case] [--plot FILE.svg]

The rows (default 1,000,000) are generated for `regression.json.gz` case `case` (default 2: six
numeric and categorical fields, three classes), written once as 8 Parquet files, then:

- floor: one process, `model(frame)` on 10,000-row pandas frames (Spark's Arrow batch size), split
  into encoding (`model.encode`) and the engine (onnxruntime on the encoded matrix);
- Spark pass-through: read the Parquet and send every Arrow batch through a Python worker that
  converts the model's columns to pandas and returns the batch with constant prediction columns
  (what Spark, Arrow and the conversions cost without the model);
- Spark predict: `sensenet.spark.predict` written to Spark's `noop` sink, carrying the input
  columns (the default) and carrying none (`keep_columns=[]`).

Each Spark figure is the best of two runs (the first also warms the JVM and starts the Python
workers). Targets (printed, not raised): local[2] at least 1.6x local[1]; per core at least half
the floor.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
FIXTURES = Path(os.environ.get("SENSENET_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))

import pandas as pd  # noqa: E402

from sensenet.models.wrappers import create_model  # noqa: E402
from sensenet.spark import predict  # noqa: E402

BATCH_ROWS = 10_000
LABELS = {
    "read": "Parquet read only",
    "pass": "read + Arrow round trip, no model",
    "predict": "predict (input columns kept)",
    "predict only": "predict, keep_columns=[]",
}
FILES = 8
MISSING = 0.05


def generated_rows(model, rows: int, seed: int = 0) -> pd.DataFrame:
    """Values around each numeric field's center and scale, categories drawn from the field's own,
    5% of every column missing."""
    generator = np.random.default_rng(seed)
    columns = {}
    for field, spec in zip(model.fields, model.spec.inputs):
        missing = generator.random(rows) < MISSING
        if field.optype == "numeric":
            values = generator.normal(spec.center, spec.scale, rows)
            values[missing] = np.nan
        else:
            values = np.asarray(field.values, dtype=object)[generator.integers(0, len(field.values), rows)]
            values[missing] = None
        columns[field.name] = values
    return pd.DataFrame(columns)


def write_parquet(frame: pd.DataFrame, directory: Path) -> str:
    for k, part in enumerate(np.array_split(np.arange(len(frame)), FILES)):
        frame.iloc[part].to_parquet(directory / f"part-{k}.parquet", index=False)
    return str(directory)


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def floor(model, frame: pd.DataFrame) -> dict[str, float]:
    """Seconds for the whole frame in one process: model(frame), encoding alone, engine alone."""
    chunks = [frame.iloc[s : s + BATCH_ROWS] for s in range(0, len(frame), BATCH_ROWS)]
    model(chunks[0])
    engine = model._engine.get()  # the engine alone, on matrices encoded beforehand
    total = timed(lambda: [model(chunk) for chunk in chunks])
    matrices = []
    encode = timed(lambda: matrices.extend(model.encode(chunk) for chunk in chunks))
    run = timed(lambda: [engine(matrix) for matrix in matrices])
    return {"total": total, "encode": encode, "engine": run}


def spark_session(master: str):
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master(master)
        .appName("sensenet-benchmark")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def pass_through(df, model):
    """The same shape of work as predict, without the model: Arrow batches through a Python worker,
    the model's columns to pandas, constant predictions appended as Arrow arrays."""
    import pyarrow as pa
    from pyspark.sql.types import ArrayType, DoubleType, FloatType, StringType, StructField, StructType

    label, width = model.classes[0], len(model.classes)
    names = [field.name for field in model.fields]

    def constant(batches):
        for batch in batches:
            rows = batch.num_rows
            batch.select(names).to_pandas()
            offsets = pa.array(np.arange(0, (rows + 1) * width, width, dtype=np.int32))
            added = [
                pa.array([label] * rows, pa.string()),
                pa.array(np.zeros(rows)),
                pa.ListArray.from_arrays(offsets, pa.array(np.zeros(rows * width, np.float32))),
            ]
            yield pa.RecordBatch.from_arrays(
                batch.columns + added,
                names=batch.schema.names + ["prediction", "probability", "probabilities"],
            )

    added = [
        StructField("prediction", StringType()),
        StructField("probability", DoubleType()),
        StructField("probabilities", ArrayType(FloatType(), containsNull=False)),
    ]
    return df.mapInArrow(constant, StructType(df.schema.fields + added))


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by a process and its descendants (Linux /proc): the Spark JVM with
    its Python workers, whose pipelined work makes even local[1] use more than one core."""
    parents, used = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        used[int(entry)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier and pid not in tree]
        tree.update(children)
        frontier = children
    return sum(used.get(pid, 0.0) for pid in tree)


def spark_runs(master: str, path: str, model) -> dict[str, tuple[float, float]]:
    session = spark_session(master)
    try:
        df = session.read.parquet(path)
        sink = lambda frame: frame.write.format("noop").mode("overwrite").save()  # noqa: E731
        runs = {
            "read": lambda: sink(df),
            "pass": lambda: sink(pass_through(df, model)),
            "predict": lambda: sink(predict(df, model)),
            "predict only": lambda: sink(predict(df, model, keep_columns=[])),
        }
        jvm = session.sparkContext._gateway.proc.pid

        def measured(run) -> tuple[float, float]:
            """Wall seconds and cores kept busy (CPU seconds of the JVM and its workers / wall)."""
            cpu = tree_cpu_seconds(jvm)
            seconds = timed(run)
            return seconds, (tree_cpu_seconds(jvm) - cpu) / seconds

        # Best of two: the first run of each also warms the JVM's code and starts the Python workers.
        results = {name: min(measured(run), measured(run)) for name, run in runs.items()}
        return {**results, "partitions": df.rdd.getNumPartitions()}
    finally:
        session.stop()


def main(rows: int = 1_000_000, case: int = 2, plot: str | None = None) -> None:
    with gzip.open(FIXTURES / "regression.json.gz") as stream:
        network = json.load(stream)[case]["model"]
    model = create_model(network)
    frame = generated_rows(model, rows)
    floor_seconds = floor(model, frame)
    with tempfile.TemporaryDirectory() as directory:
        path = write_parquet(frame, Path(directory))
        runs = {master: spark_runs(master, path, model) for master in ("local[1]", "local[2]")}
    rate = lambda seconds: rows / seconds  # noqa: E731
    print(f"{rows:,} rows, regression.json.gz case {case} ({len(model.fields)} fields, {model.kind})")
    print("| measure | seconds | rows/s | per core | cores busy |\n| --- | --- | --- | --- | --- |")
    for name, seconds in (
        ("floor: model(frame), 1 process", floor_seconds["total"]),
        ("  of which encoding", floor_seconds["encode"]),
        ("  of which engine (onnxruntime)", floor_seconds["engine"]),
    ):
        print(f"| {name} | {seconds:.2f} | {rate(seconds):,.0f} | {rate(seconds):,.0f} | 1 |")
    for master, run in runs.items():
        cores = int(master[6:-1])
        for name, label in LABELS.items():
            seconds, busy = run[name]
            print(
                f"| {master} {label} ({run['partitions']} partitions) | {seconds:.2f} | {rate(seconds):,.0f} "
                f"| {rate(seconds) / cores:,.0f} | {busy:.2f} |"
            )
    for name in ("predict", "predict only"):
        speedup = runs["local[1]"][name][0] / runs["local[2]"][name][0]
        print(f"{LABELS[name]}: local[2] / local[1] {speedup:.2f}x (target >= 1.6x)", end="")
        for master, cores in (("local[1]", 1), ("local[2]", 2)):
            per_core = rate(runs[master][name][0]) / cores / rate(floor_seconds["total"])
            print(f"; {master} per core / floor {per_core:.2f}", end="")
        print(" (target >= 0.5)")
    print(f"load average while it ran: {os.getloadavg()[0]:.1f} (2 idle cores: < 2)")
    if plot:
        chart(rows, floor_seconds["total"], runs).write(plot)


def chart(rows: int, floor_seconds: float, runs: dict) -> Any:
    """Rows per second: the single-process floor, then each Spark run on local[1] and local[2]."""
    from benchmarks.plot import Chart

    drawn = Chart(f"Spark: {rows:,} rows scored, rows/s (benchmarks/spark.py)")
    drawn.add("rows/s", "floor: model(frame), 1 process", rows / floor_seconds, "rows/s")
    for name, label in LABELS.items():
        for master, run in runs.items():
            drawn.add("rows/s", f"{master} {label}", rows / run[name][0], "rows/s")
    return drawn


if __name__ == "__main__":
    from benchmarks.plot import plot_path

    plot, numbers = plot_path(sys.argv[1:])
    main(*(int(arg) for arg in numbers), plot=plot)
