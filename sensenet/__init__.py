"""Sense/Net: BigML deepnets as local compute graphs that predict exactly as BigML does."""

from sensenet.exceptions import (
    DownloadError,
    ImageError,
    InputDataError,
    MissingExtraError,
    ModelFormatError,
    ModelNotFoundError,
    OutputPathError,
    SensenetError,
    SettingsError,
    UnsupportedError,
)

__version__ = "0.1.0"

__all__ = [
    "DownloadError",
    "ImageError",
    "InputDataError",
    "MissingExtraError",
    "ModelFormatError",
    "ModelNotFoundError",
    "OutputPathError",
    "SensenetError",
    "SettingsError",
    "UnsupportedError",
    "__version__",
]
