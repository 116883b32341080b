"""MkDocs hooks (mkdocs.yml `hooks`): the pictures the pages show, made when the site is built.

- `pictures/detection.jpg`: the eye detector's boxes on a photo, drawn by `sensenet detect --draw`
  itself (the command docs/detection.md shows), from the fixtures (SENSENET_FIXTURES). Without
  them the page shows a note in its place, and the build says so.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("SENSENET_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
DETECTOR = FIXTURES / "detection" / "cats_eye_tinyyolov4.zip"
PHOTO = FIXTURES / "detection" / "pexels-pixabay-33358.jpg"
# The command docs/detection.md shows, on the photo the docs' examples call cat.jpg.
DETECT = ["detect", "--threshold", "0.7", "--iou", "0.2", "--quiet"]
log = logging.getLogger("mkdocs.hooks.sensenet")


def _note(text: str) -> bytes:
    """A small JPEG saying `text`, in place of a picture that could not be made."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (512, 64), "white")
    ImageDraw.Draw(picture).text((12, 24), text, fill="black")
    stream = io.BytesIO()
    picture.save(stream, "JPEG")
    return stream.getvalue()


def _drawn_detection(config: Any) -> File:
    if not (DETECTOR.is_file() and PHOTO.is_file()):
        log.info("no fixtures at %s: pictures/detection.jpg is a note (set SENSENET_FIXTURES)", FIXTURES)
        return File.generated(config, "pictures/detection.jpg", content=_note("built without the fixtures"))
    with tempfile.TemporaryDirectory() as scratch:
        photo, drawn = Path(scratch) / "cat.jpg", Path(scratch) / "drawn"
        photo.symlink_to(PHOTO)
        drawn.mkdir()
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        command = [sys.executable, "-m", "sensenet", *DETECT, str(DETECTOR), str(photo), "--draw", str(drawn)]
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
        return File.generated(config, "pictures/detection.jpg", content=(drawn / "cat.jpg").read_bytes())


def on_files(files: Files, config: Any) -> Files:
    files.append(_drawn_detection(config))
    return files
