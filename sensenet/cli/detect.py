"""`sensenet detect`: the objects a BigML detector finds in images, as JSON Lines."""

from __future__ import annotations

import argparse
from typing import Any

import orjson

from sensenet.cli.drawing import draw_all, drawing_paths
from sensenet.cli.images import add_image_arguments, expand_images, image_settings
from sensenet.cli.model_file import (
    CACHE_HELP,
    add_cache_argument,
    cache_settings,
    open_model,
    split_model_argument,
)
from sensenet.cli.output import check_output, open_output
from sensenet.cli.progress import Progress
from sensenet.cli.skipping import Skips, add_skip_argument, located, run_each
from sensenet.cli.usage import UsageError
from sensenet.engines import ENGINES
from sensenet.exceptions import InputDataError
from sensenet.models.detector import ObjectDetector

HELP = "find objects in images with a detector (YOLO) deepnet; JSON Lines out"
USAGE = "sensenet detect [options] MODEL (IMAGE | DIR | GLOB) ..."
DESCRIPTION = (
    """\
Find objects in images with a BigML object detector.

IMAGE arguments are image files, directories (their image files, sorted; add
--recursive for subdirectories) and glob patterns. Output, one line per image:
{"image": PATH, "objects": [{"box": [x1, y1, x2, y2], "label": L, "score": S}, ...]}
with boxes in pixels of the original image (origin top-left), best first.

--draw DIR saves a copy of each image with its boxes and labels drawn, under
the same file name (plus --draw-suffix); an existing file is kept unless
--force, and a copy never replaces its original.

Every destination (-o, --draw) is checked before anything is detected; -o
appears only when every image is done (a failure leaves no partial file).
--force replaces a destination (a link is replaced, never written through).

"""
    + CACHE_HELP
)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = USAGE
    parser.description = DESCRIPTION
    parser.add_argument("inputs", nargs="*", metavar="MODEL | IMAGE", help=argparse.SUPPRESS)
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write the JSON Lines to FILE (default: stdout)"
    )
    parser.add_argument(
        "--threshold", type=_fraction, metavar="SCORE", help="lowest score an object needs (default: 0.5)"
    )
    parser.add_argument(
        "--iou",
        type=_fraction,
        metavar="IOU",
        help="overlap above which a weaker box is dropped (default: 0.5)",
    )
    parser.add_argument(
        "--max-objects", type=_positive, metavar="N", help="most objects per image (default: 32)"
    )
    parser.add_argument(
        "--draw", metavar="DIR", help="save copies of the images with the boxes drawn into DIR"
    )
    parser.add_argument(
        "--draw-suffix",
        default="",
        metavar="TEXT",
        help="added to a drawn copy's file name (before the extension)",
    )
    parser.add_argument("--force", action="store_true", help="replace existing output and drawn files")
    parser.add_argument("--engine", choices=sorted(ENGINES), help="engine that runs the model")
    add_cache_argument(parser)
    add_skip_argument(parser, "images")
    add_image_arguments(parser)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    values = {
        "bounding_box_threshold": args.threshold,
        "iou_threshold": args.iou,
        "max_objects": args.max_objects,
        "engine": args.engine,
    }
    given = {key: value for key, value in values.items() if value is not None}
    return {**image_settings(args), **given, **cache_settings(args)}


def run(args: argparse.Namespace) -> int:
    model_path, arguments = split_model_argument(args, args.inputs)
    if not arguments:
        raise UsageError("no images given: name image files, directories or glob patterns after the MODEL")
    check_output(args.output, args.force)
    images = expand_images(arguments, args.recursive)
    targets = drawing_paths(images, args.draw, args.draw_suffix, args.force) if args.draw else None
    detector = open_model(model_path).create(_settings(args))
    if not isinstance(detector, ObjectDetector):
        raise InputDataError(
            f"{model_path} is not an object detector: use `sensenet predict MODEL IMAGE ...`"
        )

    skips = Skips(args.skip_errors, "detect")
    found: list[tuple[int, list]] = []
    with Progress(len(images), "images", enabled=not args.quiet) as progress:
        for number, image in enumerate(images):
            one = [image]
            kept, objects = run_each(one, lambda batch: detector(batch[0]), located(one.__getitem__), skips)
            if kept:
                found.append((number, objects[0]))
            progress.update(1)
    if targets is not None:
        draw_all(images, found, targets, args.force)
    with open_output(args.output, args.force) as stream:
        for number, objects in found:
            stream.write(orjson.dumps({"image": images[number], "objects": objects}).decode() + "\n")
    return skips.exit_status(len(images), "images")
