"""Settings are validated when given, with messages that list what is allowed."""

from __future__ import annotations

import pytest

from sensenet import SettingsError
from sensenet.engines import ENGINES, NODE_ENGINES
from sensenet.settings import ENGINE_NAMES, VALID_KEYS, Settings, ensure_settings

SEED_KEYS = {
    "bounding_box_threshold",
    "color_space",
    "extract_image_features",
    "image_path_prefix",
    "input_image_format",
    "iou_threshold",
    "load_pretrained_weights",
    "max_objects",
    "output_unfiltered_boxes",
    "pad_bounding_box_output",
    "regression_normalize",
    "rescale_type",
}


def test_all_seed_keys_are_known():
    assert SEED_KEYS <= set(VALID_KEYS)


def test_the_engine_setting_accepts_exactly_the_engines_there_are():
    # The settings sit below the engines, so they name them rather than import the registry.
    assert set(ENGINE_NAMES) == set(ENGINES) == set(NODE_ENGINES)


def test_defaults_are_none():
    assert ensure_settings(None).to_dict() == {}


def test_dict_and_object_forms():
    settings = ensure_settings({"color_space": "BGR", "max_objects": 3, "iou_threshold": 0.25})
    assert (settings.color_space, settings.max_objects, settings.iou_threshold) == ("bgr", 3, 0.25)
    assert ensure_settings(settings) == settings and ensure_settings(settings) is not settings


def test_unknown_key_lists_the_valid_ones():
    with pytest.raises(
        SettingsError, match=r"unknown setting\(s\) \['colour_space'\]; valid settings are \[.*'color_space'"
    ):
        ensure_settings({"colour_space": "rgb"})


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("color_space", "cmyk", r"one of \['rgb', 'bgr', 'rgba', 'bgra'\]"),
        ("rescale_type", "stretch", r"one of \['warp', 'pad', 'crop'\]"),
        ("iou_threshold", 1.5, "number from 0 to 1"),
        ("bounding_box_threshold", "high", "number from 0 to 1"),
        ("max_objects", 0, "whole number >= 1"),
        ("max_objects", 2.5, "whole number >= 1"),
        ("regression_normalize", "yes", "true or false"),
        ("image_path_prefix", 3, "must be a string"),
        ("engine", "torch", "must be one of"),
    ],
)
def test_bad_values_say_what_is_allowed(key, value, message):
    with pytest.raises(SettingsError, match=message):
        ensure_settings({key: value})


def test_settings_object_validates_too():
    with pytest.raises(SettingsError):
        Settings(max_objects=-1)


def test_settings_must_be_a_mapping():
    with pytest.raises(SettingsError, match="must be a dict"):
        ensure_settings(["color_space"])
