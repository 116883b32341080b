"""Settings that change how a model is built or how it predicts, validated up front."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from sensenet.exceptions import SettingsError
from sensenet.limits import MAX_OBJECTS, Limit

COLOR_SPACES = ("rgb", "bgr", "rgba", "bgra")
RESCALE_TYPES = ("warp", "pad", "crop")
INPUT_IMAGE_FORMATS = ("file", "pixel_values")
ENGINE_NAMES = ("keras", "onnx")  # the engines `sensenet.engines` builds, by name


def _optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda name, value: None if value is None else check(name, value)


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SettingsError(f"setting {name!r} must be true or false, got {value!r}")
    return value


def _fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise SettingsError(f"setting {name!r} must be a number from 0 to 1, got {value!r}")
    return float(value)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingsError(f"setting {name!r} must be a whole number >= 1, got {value!r}")
    return value


def _bounded_int(limit: Limit) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        value = _positive_int(name, value)
        if value > limit.value():
            raise SettingsError(f"setting {name!r}: {limit.exceeded('the value', value)}")
        return value

    return check


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SettingsError(f"setting {name!r} must be a string, got {value!r}")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in choices:
            raise SettingsError(f"setting {name!r} must be one of {list(choices)} (any case), got {value!r}")
        return value.lower()

    return check


@dataclass(init=False)
class Settings:
    """The settings `create_model`, `convert` and `create_image_feature_extractor` take.

    Built from keywords, ``Settings(iou_threshold=0.2)``, or as in the seed library from one dict,
    ``Settings({"iou_threshold": 0.2})`` (keywords win over the dict); a plain dict works wherever
    settings are taken. Every value is checked when set, also by assignment
    (``settings.rescale_type = "pad"``). None means "the model's or the library's default".
    The table in the documentation's Python API page says what each setting does.

    Args:
        values: a dict of settings (the seed library's form), or None.
        **keywords: settings by name.

    Raises:
        SettingsError: an unknown setting, or a value its setting cannot take, naming both.
    """

    bounding_box_threshold: float | None = None
    cache: bool | None = None
    clip_boxes: bool | None = None
    color_space: str | None = None
    engine: str | None = None
    extract_image_features: bool | None = None
    image_path_prefix: str | None = None
    input_image_format: str | None = None
    iou_threshold: float | None = None
    load_pretrained_weights: bool | None = None
    max_objects: int | None = None
    output_unfiltered_boxes: bool | None = None
    pad_bounding_box_output: bool | None = None
    regression_normalize: bool | None = None
    rescale_type: str | None = None
    threads: int | None = None

    def __init__(self, values: Mapping[str, Any] | None = None, /, **keywords: Any) -> None:
        if values is not None and not isinstance(values, Mapping):
            raise SettingsError(f"settings must be a dict or keywords, got {type(values).__name__}")
        given = {**(values or {}), **keywords}
        unknown = sorted(str(key) for key in given if key not in _CHECKS)
        if unknown:
            raise SettingsError(f"unknown setting(s) {unknown}; valid settings are {list(VALID_KEYS)}")
        for field in fields(self):
            setattr(self, field.name, given.get(field.name))

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _CHECKS:
            raise SettingsError(f"unknown setting {name!r}; valid settings are {list(VALID_KEYS)}")
        super().__setattr__(name, _CHECKS[name](name, value))

    def to_dict(self) -> dict[str, Any]:
        """The settings that were given (not None), as a dict `Settings` reads back."""
        return {key: value for key, value in asdict(self).items() if value is not None}


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "bounding_box_threshold": _optional(_fraction),
    "cache": _optional(_boolean),
    "clip_boxes": _optional(_boolean),
    "color_space": _optional(_choice(COLOR_SPACES)),
    "engine": _optional(_choice(ENGINE_NAMES)),
    "extract_image_features": _optional(_boolean),
    "image_path_prefix": _optional(_string),
    "input_image_format": _optional(_choice(INPUT_IMAGE_FORMATS)),
    "iou_threshold": _optional(_fraction),
    "load_pretrained_weights": _optional(_boolean),
    "max_objects": _optional(_bounded_int(MAX_OBJECTS)),
    "output_unfiltered_boxes": _optional(_boolean),
    "pad_bounding_box_output": _optional(_boolean),
    "regression_normalize": _optional(_boolean),
    "rescale_type": _optional(_choice(RESCALE_TYPES)),
    "threads": _optional(_positive_int),
}

VALID_KEYS = tuple(sorted(_CHECKS))


def ensure_settings(settings: Settings | Mapping[str, Any] | None) -> Settings:
    """A validated Settings from a dict, a Settings or None."""
    if settings is None:
        return Settings()
    if isinstance(settings, Settings):
        return Settings(**asdict(settings))
    if not isinstance(settings, Mapping):
        raise SettingsError(f"settings must be a dict or a Settings object, got {type(settings).__name__}")
    return Settings(settings)
