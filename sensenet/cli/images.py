"""Image arguments: files, directories (their image files) and globs, expanded to a sorted list of paths.

Globs are expanded here too, for shells that pass them on unexpanded
(Windows, or a quoted pattern). Every path is checked to exist before any
model runs, so a typo fails at once rather than after minutes of work.
"""

from __future__ import annotations

import argparse
import glob
import os
from collections.abc import Sequence
from typing import Any

from sensenet.exceptions import InputDataError
from sensenet.settings import RESCALE_TYPES

IMAGE_SUFFIXES = frozenset((".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"))
GLOB_CHARACTERS = frozenset("*?[")
BATCH_IMAGES = 32  # images loaded and run at once: enough to amortise a call, little memory


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    """--recursive and the settings that change how image files are read.

    (The ``color_space`` setting is not offered: it orders the channels of pixel
    arrays, and the command line only reads files, which carry their own.)
    """
    parser.add_argument(
        "-r", "--recursive", action="store_true", help="read directories' subdirectories (and ** in globs)"
    )
    parser.add_argument(
        "--rescale-type",
        choices=RESCALE_TYPES,
        help="how an image is fitted to the network's input size (default: the model's own)",
    )


def image_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the image flags give (only those given)."""
    return {"rescale_type": args.rescale_type} if args.rescale_type else {}


def is_image_file(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES and os.path.isfile(path)


def _directory_images(directory: str, recursive: bool) -> list[str]:
    if not recursive:
        return sorted(
            path
            for path in (os.path.join(directory, n) for n in os.listdir(directory))
            if is_image_file(path)
        )
    found: list[str] = []
    for root, subdirectories, names in os.walk(directory):
        subdirectories.sort()
        found.extend(
            path for path in (os.path.join(root, name) for name in sorted(names)) if is_image_file(path)
        )
    return found


def _glob_images(pattern: str, recursive: bool) -> list[str]:
    matches = sorted(glob.glob(pattern, recursive=recursive))
    if not matches:
        raise InputDataError(f"{pattern}: no file matches this pattern")
    images = []
    for match in matches:
        if os.path.isdir(match):
            images.extend(_directory_images(match, recursive))
        elif os.path.isfile(match):
            images.append(match)
    return images


def expand_images(arguments: Sequence[str], recursive: bool = False) -> list[str]:
    """The image files the arguments name, in argument order; each directory's and glob's sorted."""
    if not arguments:
        raise InputDataError("no images given: name image files, directories or glob patterns")
    images = []
    for argument in arguments:
        if os.path.isdir(argument):
            found = _directory_images(argument, recursive)
            if not found:
                suffixes = " ".join(sorted(IMAGE_SUFFIXES))
                raise InputDataError(f"{argument}: the directory holds no image files ({suffixes})")
            images.extend(found)
        elif os.path.isfile(argument):
            images.append(argument)
        elif GLOB_CHARACTERS & set(argument):
            images.extend(_glob_images(argument, recursive))
        else:
            raise InputDataError(f"{argument}: no such image file or directory")
    return images
