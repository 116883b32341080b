"""Issue 22: every file the library writes gets the mode `open()` would give it under the user's
umask (0666 less the umask), whichever command or writer made it; run under umask 022 and 077."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, fixture_path

# One process per umask runs every writer, so the detector is read once for `-o` and `--draw`.
SCRIPT = """
import os, sys
from pathlib import Path
import h5py
os.umask(int(sys.argv[1], 8))
from sensenet import cli
from sensenet.examples import example_path
from sensenet.files.writing import new_file, new_path
import sensenet.pretrained as pretrained
from sensenet.pretrained.weights import FORMAT_NAME

detector, photo, out = sys.argv[2], sys.argv[3], Path(sys.argv[4])
iris = str(example_path("iris"))
(out / "drawn").mkdir()
commands = [
    ["predict", iris, "5.1,3.5,1.4,0.2", "-o", str(out / "predictions.csv")],
    ["detect", detector, photo, "-o", str(out / "eyes.jsonl"), "--draw", str(out / "drawn"), "-q"],
    ["features", "mobilenet", "--no-pretrained-weights", photo, "-o", str(out / "features.npy")],
    ["convert", iris, "--to", "onnx", "-o", str(out / "iris.onnx")],
]
for command in commands:
    assert cli.main(command) == 0, command
with new_file(out / "text.txt") as stream:
    stream.write("text")
with new_path(out / "named.bin") as path:
    path.write_bytes(b"bytes")
served = out / "served"
served.mkdir()
with h5py.File(served / "tiny_weights_v1.h5", "w") as weights:
    weights.attrs["format"] = FORMAT_NAME
os.environ[pretrained.CACHE_PATH_VARIABLE] = str(out / "cache")
pretrained.get_weights("tiny", "v1", base_url=served.as_uri())
"""


def _modes(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)): stat.S_IMODE(path.stat().st_mode)
        for path in root.rglob("*")
        if path.is_file() and "served" not in path.parts
    }


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_writer_creates_files_as_open_would_under_the_umask(umask, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    detector = fixture_path("detection/cats_eye_tinyyolov4.zip")
    photo = fixture_path("detection/pexels-pixabay-33358.jpg")
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"{umask:o}", str(detector), str(photo), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    modes = _modes(tmp_path)
    assert sorted(modes) == sorted(
        [
            "predictions.csv",
            "eyes.jsonl",
            f"drawn/{photo.name}",
            "features.npy",
            "iris.onnx",
            "text.txt",
            "named.bin",
            "cache/tiny_weights_v1.h5",
            "cache/tiny_weights_v1.h5.sha256",
        ]
    ), json.dumps(sorted(modes))
    expected = 0o666 & ~umask
    assert {name: oct(mode) for name, mode in modes.items()} == {name: oct(expected) for name in modes}
