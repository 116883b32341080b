"""Sessions get one thread for row networks, every core for image networks, or what the user sets."""

from __future__ import annotations

import os

import pytest

from sensenet import SettingsError
from sensenet.models.wrappers import create_model
from tests.conftest import load_cases


def _intra_op_threads(engine) -> int:
    return engine._session.get_session_options().intra_op_num_threads


def test_row_networks_use_one_thread_and_image_networks_every_core():
    rows = create_model(load_cases("regression.json.gz")[0]["model"])
    images = create_model(load_cases("image_regression.json.gz")[0]["model"])
    assert _intra_op_threads(rows._engine.get()) == 1
    assert _intra_op_threads(images._engine.get()) == (os.cpu_count() or 1)


def test_the_threads_setting_overrides_both():
    rows = create_model(load_cases("regression.json.gz")[0]["model"], {"threads": 2})
    images = create_model(load_cases("image_regression.json.gz")[0]["model"], {"threads": 1})
    assert _intra_op_threads(rows._engine.get()) == 2
    assert _intra_op_threads(images._engine.get()) == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(SettingsError, match="threads"):
        create_model(load_cases("regression.json.gz")[0]["model"], {"threads": bad})
