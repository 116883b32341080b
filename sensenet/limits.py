"""How big a model, file or image Sense/Net accepts before it allocates anything for it.

A BigML deepnet declares its sizes (nodes, filters, kernels, image shape, trees) and a few
kilobytes of JSON can ask for terabytes; files and images can be bombs. Every such size is
checked against one of these limits first, and the error names the field and the limit.

Each limit has a default that fits every BigML network (YOLOv4, the largest, has 64 million
parameters and 608 x 608 inputs) and is raised by setting its environment variable, read
each time a limit is checked, e.g. ``SENSENET_MAX_PARAMETERS=500000000``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sensenet.exceptions import SettingsError


@dataclass(frozen=True)
class Limit:
    variable: str
    default: int
    meaning: str

    def value(self) -> int:
        """The limit in force: the environment variable when set, else the default."""
        raw = os.environ.get(self.variable)
        if raw is None or not raw.strip():
            return self.default
        try:
            value = int(raw.strip().replace("_", ""))
        except ValueError:
            value = 0
        if value < 1:
            raise SettingsError(f"{self.variable} must be a whole number >= 1, got {raw!r}")
        return value

    def exceeded(self, what: str, amount: int) -> str:
        """The sentence an error gives when `amount` is over the limit."""
        return (
            f"{what} is {amount:,}, over the limit of {self.value():,} {self.meaning}; "
            f"set the environment variable {self.variable} to allow more"
        )


MAX_PARAMETERS = Limit("SENSENET_MAX_PARAMETERS", 100_000_000, "weights in one model")
MAX_LAYER_WIDTH = Limit("SENSENET_MAX_LAYER_WIDTH", 65_536, "nodes, filters or channels in one layer")
MAX_KERNEL_SIZE = Limit("SENSENET_MAX_KERNEL_SIZE", 64, "pixels on a side of a kernel, pool or stride")
MAX_IMAGE_SIDE = Limit("SENSENET_MAX_IMAGE_SIDE", 8_192, "pixels on a side of a network's input or layer")
MAX_LAYER_ELEMENTS = Limit(
    "SENSENET_MAX_LAYER_ELEMENTS", 64 * 1024 * 1024, "values in one layer's output for one image"
)
MAX_TREE_ELEMENTS = Limit(
    "SENSENET_MAX_TREE_ELEMENTS", 50_000_000, "values in a compiled tree embedding (trees x nodes x leaves)"
)
MAX_OBJECTS = Limit("SENSENET_MAX_OBJECTS", 10_000, "boxes per image")
MAX_NESTING = Limit("SENSENET_MAX_NESTING", 100, "levels of nested lists and objects")
MAX_FILE_BYTES = Limit("SENSENET_MAX_FILE_BYTES", 4 * 1024**3, "bytes in a model, rows or settings file")
MAX_IMAGE_FILE_BYTES = Limit("SENSENET_MAX_IMAGE_FILE_BYTES", 256 * 1024**2, "bytes in an image file")
MAX_GZIP_RATIO = Limit("SENSENET_MAX_GZIP_RATIO", 200, "times its compressed size a gzip file may inflate to")
MAX_IMAGE_PIXELS = Limit("SENSENET_MAX_IMAGE_PIXELS", 50_000_000, "pixels in an image to decode")
DOWNLOAD_DEADLINE_SECONDS = Limit(
    "SENSENET_DOWNLOAD_DEADLINE", 1_800, "seconds a weights download may take in all"
)

LIMITS = (
    MAX_PARAMETERS,
    MAX_LAYER_WIDTH,
    MAX_KERNEL_SIZE,
    MAX_IMAGE_SIDE,
    MAX_LAYER_ELEMENTS,
    MAX_TREE_ELEMENTS,
    MAX_OBJECTS,
    MAX_NESTING,
    MAX_FILE_BYTES,
    MAX_IMAGE_FILE_BYTES,
    MAX_GZIP_RATIO,
    MAX_IMAGE_PIXELS,
    DOWNLOAD_DEADLINE_SECONDS,
)
