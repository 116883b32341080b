"""Rows' image values become the pixel tensors an image model takes, one per image field.

A value is a path (joined to the ``image_path_prefix`` setting), the bytes of
an image file or an array of pixels; `sensenet.inputs` decodes it to RGB
and rescales it to the network's input size (the ``rescale_type`` setting,
else the model's own, else warp). A missing image (None) becomes an
all-black image. The tensors are float32 RGB 0-255: standardising happens in the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sensenet.exceptions import ImageFieldError, InputDataError, SensenetError
from sensenet.inputs.missing import is_missing
from sensenet.inputs.rescale import choose_rescale_type
from sensenet.inputs.table import Table
from sensenet.spec.image_layers import ImageMetadata
from sensenet.spec.inputs import ImageInput

DEFAULT_COLOR_SPACE = "rgb"


class ImageEncoder:
    """Loads and rescales the images of rows (lists indexed by each field's ``index``)."""

    def __init__(
        self,
        fields: Sequence[ImageInput],
        metadata: ImageMetadata,
        *,
        path_prefix: str | None = None,
        color_space: str | None = None,
        rescale_type: str | None = None,
    ):
        self.indexes = tuple(field.index for field in fields)
        self.height = metadata.height
        self.width = metadata.width
        self.path_prefix = path_prefix
        self.color_space = color_space or DEFAULT_COLOR_SPACE
        self.rescale_type = choose_rescale_type(rescale_type, metadata.rescale_type)

    def pixels(self, value: Any) -> np.ndarray:
        """One image value as uint8 (height, width, 3) RGB at the network's input size."""
        from sensenet.inputs import load_image, rescale

        image = load_image(value, color_space=self.color_space, path_prefix=self.path_prefix)
        return rescale(image, self.height, self.width, self.rescale_type)

    def encode_images(self, values: Sequence[Any]) -> np.ndarray:
        """Images given alone (a single-image model): a (len(values), height, width, 3) batch."""
        batch = np.empty((len(values), self.height, self.width, 3), np.float32)
        for r, value in enumerate(values):
            batch[r] = self._pixels_at(value, f"image {r}")
        return batch

    def encode_table(self, table: Table) -> list[np.ndarray]:
        """One float32 (rows, height, width, 3) batch per image field, in ``preprocess`` order."""
        batches = []
        for index in self.indexes:
            batch = np.empty((table.length, self.height, self.width, 3), np.float32)
            for r, value in enumerate(table.columns[index]):
                try:
                    batch[r] = self.pixels(None if is_missing(value) else value)
                except InputDataError as error:
                    raise ImageFieldError(r, index, table.label(index), str(error)) from None
            batches.append(batch)
        return batches

    def _pixels_at(self, value: Any, where: str) -> np.ndarray:
        try:
            return self.pixels(None if is_missing(value) else value)
        except SensenetError as error:
            raise type(error)(f"{where}: {error}") from None
