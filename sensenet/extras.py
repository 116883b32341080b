"""The optional extras and the one check that names the pip command for a missing one.

The base install predicts on onnxruntime; TensorFlow (Keras engine, TF-based exports, bundles),
Spark, serving and pandas come as extras, imported only by the code that needs them.
"""

from __future__ import annotations

import importlib.util

from sensenet.exceptions import MissingExtraError

# The name pip installs this project by (the import name is `sensenet`; `sensenet` on the index is
# another project).
DISTRIBUTION = "sensenet-local"

# extra name -> the top-level modules it brings
EXTRAS: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "keras"),
    "tflite": ("ai_edge_litert",),
    "pandas": ("pandas",),
    "spark": ("pyspark", "pandas", "pyarrow"),
    "serve": ("starlette", "uvicorn", "grpc", "google.protobuf"),
    "mlflow": ("mlflow", "pandas"),
}


def require_extra(extra: str, feature: str) -> None:
    """Raise `MissingExtraError` naming the pip command for `extra` if it is not installed."""
    missing = [name for name in EXTRAS[extra] if not _installed(name)]
    if missing:
        names, are, them = (
            (missing[0], "is", "it") if len(missing) == 1 else (_listed(missing), "are", "them")
        )
        raise MissingExtraError(
            f"{names} {are} needed for {feature}, and the base install leaves {them} out: "
            f"{install_command(extra)}"
        )


def _listed(names: list[str]) -> str:
    """ "a, b and c"."""
    return f"{', '.join(names[:-1])} and {names[-1]}"


def install_command(extra: str) -> str:
    """The pip command that brings `extra`: ``pip install "sensenet-local[extra]"``."""
    return f'pip install "{DISTRIBUTION}[{extra}]"'


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install, or a module blocked in sys.modules
        return False
