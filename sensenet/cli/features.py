"""`sensenet features`: an image network's pooled features for images, as .npy or CSV."""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from sensenet.cli.images import BATCH_IMAGES, add_image_arguments, expand_images, image_settings
from sensenet.cli.native_logs import native_logs_silenced
from sensenet.cli.output import float32_texts, open_output
from sensenet.cli.progress import Progress
from sensenet.exceptions import InputDataError, OutputPathError

HELP = "extract image features with a model's or a pretrained network's image network"
USAGE = (
    "sensenet features [options] (MODEL | PRETRAINED_NAME) (IMAGE | DIR | GLOB) ... [-o OUT.npy | OUT.csv]"
)
DESCRIPTION = """\
Extract the final pooled features of an image network for each image.

The network is a BigML deepnet with an image field (a JSON file) or the name
of a pretrained network: mobilenet, mobilenetv2, resnet18, resnet50 or
xception (the pretrained detectors have no pooled features). Its
weights are downloaded once into the cache (BIGML_SENSENET_CACHE_PATH, default
~/.bigml_sensenet); --no-pretrained-weights keeps its initializer weights.

IMAGE arguments are image files, directories (their image files, sorted; add
--recursive for subdirectories) and glob patterns. The output, by -o's
extension: .npy, a float32 array (images, features) in image order; .csv, one
line per image, its path first, then feature_0 ... feature_N-1 (also on stdout
when there is no -o).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = USAGE
    parser.description = DESCRIPTION
    parser.add_argument("inputs", nargs="*", metavar="MODEL | IMAGE", help=argparse.SUPPRESS)
    parser.add_argument("-o", "--output", metavar="FILE", help="a .npy or .csv file (default: CSV on stdout)")
    parser.add_argument("--force", action="store_true", help="overwrite the --output file if it exists")
    parser.add_argument(
        "--no-pretrained-weights",
        action="store_true",
        help="a pretrained network keeps its initializer weights (nothing is downloaded)",
    )
    add_image_arguments(parser)


def _write_npy(path: str, images: list[str], features: np.ndarray, force: bool) -> None:
    with open(path, "wb") as stream:
        np.save(stream, features)


def _write_csv(path: str | None, images: list[str], features: np.ndarray, force: bool) -> None:
    with open_output(path, force) as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["image", *(f"feature_{i}" for i in range(features.shape[1]))])
        writer.writerows([image, *row] for image, row in zip(images, float32_texts(features).tolist()))


WRITERS: dict[str, Callable[[Any, list[str], np.ndarray, bool], None]] = {
    ".npy": _write_npy,
    ".csv": _write_csv,
}


def _writer(path: str | None) -> Callable[[Any, list[str], np.ndarray, bool], None]:
    if path is None or path == "-":
        return _write_csv
    extension = os.path.splitext(path)[1].lower()
    if extension not in WRITERS:
        raise InputDataError(
            f"-o {path}: unknown output format {extension!r}; use a name ending in .npy or .csv"
        )
    return WRITERS[extension]


def run(args: argparse.Namespace) -> int:
    from sensenet.models.wrappers import create_image_feature_extractor

    if not args.inputs:
        raise InputDataError("no model given: name a MODEL file or a pretrained network, then images")
    network, arguments = args.inputs[0], args.inputs[1:]
    write = _writer(args.output)
    if args.output and os.path.exists(args.output) and not args.force:
        raise OutputPathError(
            f"{args.output} already exists; choose another output or pass --force to overwrite it"
        )
    images = expand_images(arguments, args.recursive)
    settings = image_settings(args)
    if args.no_pretrained_weights:
        settings["load_pretrained_weights"] = False
    extractor = create_image_feature_extractor(network, settings)

    batches = []
    with Progress(len(images), "images", enabled=not args.quiet) as progress:
        for start in range(0, len(images), BATCH_IMAGES):
            paths = [os.path.abspath(path) for path in images[start : start + BATCH_IMAGES]]
            with native_logs_silenced(enabled=start == 0 and not args.debug):  # TensorFlow starts
                batches.append(np.asarray(extractor(paths), dtype=np.float32))
            progress.update(len(paths))
    write(args.output, images, np.concatenate(batches), args.force)
    return 0
