"""The optional extras and the one check that names the pip command for a missing one.

The base install predicts on onnxruntime; TensorFlow (Keras engine, TF-based exports, bundles),
Spark, serving and pandas come as extras, imported only by the code that needs them.
"""

from __future__ import annotations

import importlib.util

from sensenet.exceptions import MissingExtraError

# extra name -> the top-level modules it brings
EXTRAS: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "keras"),
    "tflite": ("ai_edge_litert",),
    "pandas": ("pandas",),
    "spark": ("pyspark", "pandas", "pyarrow"),
    "serve": ("starlette", "uvicorn"),
    "mlflow": ("mlflow", "pandas"),
}


def require_extra(extra: str, feature: str) -> None:
    """Raise `MissingExtraError` naming ``pip install "sensenet[extra]"`` if `extra` is not installed."""
    missing = [name for name in EXTRAS[extra] if not _installed(name)]
    if missing:
        raise MissingExtraError(
            f"{feature} needs {', '.join(missing)}, which the base install leaves out: "
            f'pip install "sensenet[{extra}]"'
        )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install, or a module blocked in sys.modules
        return False
