"""BigML's Python bindings (``bigml.deepnet.Deepnet``) on top of this package, in a process of their own.

The bindings import TensorFlow with ``TF_USE_LEGACY_KERAS=1`` and turn logging off process-wide,
so `tests/test_bigml_bindings.py` runs this script in a subprocess (in a temporary directory: the
bindings make a ``storage/`` directory where they run). Usage:
``python -m tests.bindings_scenarios JOBS_JSON``, where the file holds a list of jobs
``{"resource": path, "operation_settings": {...} or null, "calls": [[method, input, kwargs], ...]}``;
prints one JSON list with, per job, whether the bindings fell back to their numpy code
(``using_laminar``), the class of the model they built, and each call's result.
"""

from __future__ import annotations

import json
import sys


def run_job(job: dict) -> dict:
    from bigml.deepnet import Deepnet

    with open(job["resource"]) as stream:
        deepnet = Deepnet(json.load(stream), operation_settings=job.get("operation_settings"))
    built = deepnet.deepnet
    return {
        "using_laminar": deepnet.using_laminar,
        "class": f"{type(built).__module__}.{type(built).__name__}",
        "results": [getattr(deepnet, method)(values, **kwargs) for method, values, kwargs in job["calls"]],
    }


def main(jobs_path: str) -> None:
    with open(jobs_path) as stream:
        jobs = json.load(stream)
    print(json.dumps([run_job(job) for job in jobs], default=float))  # the bindings give numpy floats


if __name__ == "__main__":
    main(sys.argv[1])
