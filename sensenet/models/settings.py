"""The seed library's path to the settings, which live in `sensenet.settings` (every floor reads them)."""

from sensenet.settings import (
    COLOR_SPACES,
    ENGINE_NAMES,
    INPUT_IMAGE_FORMATS,
    RESCALE_TYPES,
    VALID_KEYS,
    Settings,
    ensure_settings,
)

__all__ = [
    "COLOR_SPACES",
    "ENGINE_NAMES",
    "INPUT_IMAGE_FORMATS",
    "RESCALE_TYPES",
    "VALID_KEYS",
    "Settings",
    "ensure_settings",
]
