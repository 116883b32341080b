"""Example models shipped inside the package, so a first prediction needs no download."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from sensenet.exceptions import ModelNotFoundError

# name -> file in this package; each one is made by a script in tools/
EXAMPLES: dict[str, str] = {
    "iris": "iris.json",  # tools/make_iris_example.py
}


def example_path(name: str) -> Path:
    """The path of a shipped example model, by name."""
    if name not in EXAMPLES:
        raise ModelNotFoundError(f"no example model named {name!r}; examples: {', '.join(sorted(EXAMPLES))}")
    return Path(str(files(__name__) / EXAMPLES[name]))
