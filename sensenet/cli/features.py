"""`sensenet features`: an image network's pooled features for images, as .npy or CSV."""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from sensenet.cli.images import BATCH_IMAGES, add_image_arguments, expand_images, image_settings
from sensenet.cli.model_file import STDIN, open_model
from sensenet.cli.native_logs import native_logs_silenced
from sensenet.cli.output import check_output, float32_texts, open_output
from sensenet.cli.progress import Progress
from sensenet.cli.skipping import Skips, add_skip_argument, located, run_each
from sensenet.cli.usage import UsageError
from sensenet.exceptions import InputDataError, ModelNotFoundError
from sensenet.files.writing import new_file

DETECTOR_NETWORKS = ("tinyyolov4", "yolov4")  # pretrained networks without pooled features

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
    add_skip_argument(parser, "images")
    add_image_arguments(parser)


def _write_npy(path: str, images: list[str], features: np.ndarray, force: bool) -> None:
    with new_file(path, force, binary=True) as stream:
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
        raise UsageError(f"-o {path}: unknown output format {extension!r}; use a name ending in .npy or .csv")
    return WRITERS[extension]


def _network(name: str) -> Any:
    """A pretrained network's name, or the document of a model file."""
    from sensenet.pretrained import NETWORKS

    if name in NETWORKS:
        return name
    if name != STDIN and not os.path.exists(name):
        pooled = ", ".join(n for n in NETWORKS if n not in DETECTOR_NETWORKS)
        raise ModelNotFoundError(
            f"{name}: no such model file, nor a pretrained network; the pretrained networks are {pooled}"
        )
    model_file = open_model(name)
    return model_file.document


def run(args: argparse.Namespace) -> int:
    from sensenet.models.doors import create_image_feature_extractor

    if not args.inputs:
        raise UsageError("no model given: name a MODEL file or a pretrained network, then images")
    name, arguments = args.inputs[0], args.inputs[1:]
    if not arguments:
        raise UsageError(f"no images given: name image files, directories or glob patterns after {name}")
    write = _writer(args.output)
    check_output(args.output, args.force)
    network = _network(name)
    images = expand_images(arguments, args.recursive)
    settings = image_settings(args)
    if args.no_pretrained_weights:
        settings["load_pretrained_weights"] = False
    extractor = create_image_feature_extractor(network, settings)

    skips = Skips(args.skip_errors, "features")
    calls: list[int] = []

    def extract(batch: list[str]) -> np.ndarray:
        # The first call may start TensorFlow, whose native logs stay off stderr (skips are reported there).
        with native_logs_silenced(enabled=not calls and not args.debug):
            calls.append(len(batch))
            return np.asarray(extractor([os.path.abspath(path) for path in batch]), dtype=np.float32)

    batches: list[np.ndarray] = []
    kept_images: list[str] = []
    with Progress(len(images), "images", enabled=not args.quiet) as progress:
        for start in range(0, len(images), BATCH_IMAGES):
            paths = images[start : start + BATCH_IMAGES]
            kept, results = run_each(paths, extract, located(paths.__getitem__), skips)
            batches.extend(results)
            kept_images.extend(paths[i] for i in kept)
            progress.update(len(paths))
    if not batches:
        raise InputDataError(f"no features to write: all {len(images)} images have errors")
    write(args.output, kept_images, np.concatenate(batches), args.force)
    return skips.exit_status(len(images), "images")
