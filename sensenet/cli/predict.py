"""`sensenet predict`: predictions for rows, written as CSV or JSON Lines."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

from sensenet.cli.image_rows import predict_image_rows, predict_images
from sensenet.cli.images import add_image_arguments, expand_images, image_settings
from sensenet.cli.model_file import add_model_arguments, open_model, split_model_argument
from sensenet.cli.output import OUTPUT_FORMATS, PredictionWriter, open_output
from sensenet.cli.progress import Progress
from sensenet.cli.rows import INPUT_FORMATS, SUFFIX_FORMATS, RowLayout, RowSource, argument_rows, file_rows
from sensenet.engines import ENGINES
from sensenet.exceptions import InputDataError
from sensenet.models.wrappers import Deepnet
from sensenet.spec.inputs import ImageInput

HELP = "predict rows (arguments, CSV or JSON Lines files, stdin) or images"
USAGE = "sensenet predict [options] (MODEL | --example NAME) [ROW | FILE | IMAGE | DIR | GLOB | - ...]"
DESCRIPTION = """\
Predict with a BigML deepnet on rows of input values.

A ROW is one argument of comma-separated values in the order of the model's
input fields ("5.1,3.5,1.4,0.2"); an empty value is missing. An argument is
read as a file instead when it is "-" (stdin), names an existing file, or
ends in .csv, .jsonl or .ndjson. With no ROW or FILE, rows come from stdin.

CSV files start with a header line. When the model is a full BigML resource
(it names its fields), header names are matched to the input fields and
other columns are ignored; otherwise columns are taken in order. A JSON
Lines file holds one array of values, or one object keyed by field name,
per line.

Image models: when the model's only input is one image field, the arguments
are images: image files, directories (their image files, sorted; add
--recursive for subdirectories) and glob patterns, and each record starts with
the image's path. Other image models read rows from CSV or JSON Lines files
whose image columns hold paths, relative to --image-prefix if given, else to
the directory of the file.

Output: one line per row; "prediction" and, for classifiers, "probability"
(of the predicted class) and every class's probability.
"""
BATCH_ROWS = 4096


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = USAGE
    parser.description = DESCRIPTION
    parser.add_argument("inputs", nargs="*", metavar="MODEL | ROW | FILE", help=argparse.SUPPRESS)
    add_model_arguments(parser)
    parser.add_argument("-o", "--output", metavar="FILE", help="write predictions to FILE (default: stdout)")
    parser.add_argument("--force", action="store_true", help="overwrite the --output file if it exists")
    parser.add_argument(
        "--format", choices=OUTPUT_FORMATS, default="csv", help="output format (default: csv)"
    )
    parser.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        help="format of input files and stdin (default: from the file name, else from the content)",
    )
    parser.add_argument(
        "--no-header", action="store_true", help="CSV input has no header line: columns in field order"
    )
    parser.add_argument("--engine", choices=sorted(ENGINES), help="engine that runs the model")
    parser.add_argument(
        "--image-prefix",
        metavar="DIR",
        help="directory that image paths in rows are relative to (default: the rows file's directory)",
    )
    add_image_arguments(parser)


def _is_file_argument(argument: str) -> bool:
    """A file of rows rather than a row: "-", an existing file, or a name ending in a row format's suffix."""
    return (
        argument == "-" or os.path.isfile(argument) or os.path.splitext(argument)[1].lower() in SUFFIX_FORMATS
    )


def _row_sources(arguments: list[str], layout: RowLayout, input_format: str | None) -> list[RowSource]:
    if not arguments:
        if sys.stdin.isatty():
            raise InputDataError(
                "no rows given: write ROWs as arguments, name a CSV or JSON Lines FILE, or pipe rows in"
            )
        arguments = ["-"]
    sources = []
    pending_rows: list[str] = []
    for argument in arguments:
        if _is_file_argument(argument):
            if pending_rows:
                sources.append(argument_rows(pending_rows))
                pending_rows = []
            sources.append(file_rows(argument, layout, input_format))
        else:
            pending_rows.append(argument)
    if pending_rows:
        sources.append(argument_rows(pending_rows))
    return sources


def _layout(model: Deepnet, names: tuple[str, ...] | None, objective: str | None, header: bool) -> RowLayout:
    row_length = max(field.index for field in model.spec.inputs) + 1
    usable = names if names is not None and len(names) >= row_length else None
    return RowLayout(usable, objective, header)


def _source_error(model: Deepnet, source: RowSource, end: int, error: InputDataError) -> InputDataError:
    """The error naming the source and the row counted from the source's first row.

    A chunk's error counts rows from the chunk's start; encoding the source up to
    the chunk's end again meets the same first bad row, counted from the start.
    """
    try:
        model.encode(source.rows[:end])
    except InputDataError as numbered:
        error = numbered
    return InputDataError(f"{source.label}: {error}")


def _encode(model: Deepnet, sources: list[RowSource], quiet: bool) -> np.ndarray:
    """The input matrix of every row, all checked before anything is written."""
    total = sum(len(source.rows) for source in sources)
    if total == 0:
        raise InputDataError("no rows to predict: the inputs hold no data rows")
    matrices = []
    with Progress(total, "rows read", enabled=not quiet) as progress:
        for source in sources:
            for start in range(0, len(source.rows), BATCH_ROWS):
                chunk = source.rows[start : start + BATCH_ROWS]
                try:
                    matrices.append(model.encode(chunk))
                except InputDataError as error:
                    raise _source_error(model, source, start + len(chunk), error) from None
                progress.update(len(chunk))
    return np.concatenate(matrices)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings = image_settings(args)
    if args.engine:
        settings["engine"] = args.engine
    if args.image_prefix:
        settings["image_path_prefix"] = args.image_prefix
    return settings


def _is_images_alone(model: Deepnet, arguments: list[str]) -> bool:
    """A model whose only input is one image, given images (not row files, nor rows piped in)."""
    inputs = model.spec.inputs
    alone = len(inputs) == 1 and isinstance(inputs[0], ImageInput)
    row_files = any(a == "-" or os.path.splitext(a)[1].lower() in SUFFIX_FORMATS for a in arguments)
    return alone and not row_files and (bool(arguments) or sys.stdin.isatty())


def _predict_images(
    args: argparse.Namespace, model: Deepnet, arguments: list[str], layout: RowLayout
) -> None:
    if _is_images_alone(model, arguments):
        images = expand_images(arguments, args.recursive)
        with open_output(args.output, args.force) as stream:
            predict_images(
                model, images, PredictionWriter(stream, args.format, model.spec.classes, "image"), args.quiet
            )
        return
    sources = _row_sources(arguments, layout, args.input_format)
    with open_output(args.output, args.force) as stream:
        writer = PredictionWriter(stream, args.format, model.spec.classes)
        predict_image_rows(model, sources, writer, args.quiet, prefixed=bool(args.image_prefix))


def run(args: argparse.Namespace) -> int:
    model_path, arguments = split_model_argument(args, args.inputs)
    model_file = open_model(model_path)
    model = model_file.create(_settings(args))
    if not isinstance(model, Deepnet):
        raise InputDataError(f"{model_path} is an object detector: use `sensenet detect MODEL IMAGE ...`")
    layout = _layout(model, model_file.input_names, model_file.objective_name, not args.no_header)
    if model.spec.image_network is not None:
        _predict_images(args, model, arguments, layout)
        return 0
    matrix = _encode(model, _row_sources(arguments, layout, args.input_format), args.quiet)

    with open_output(args.output, args.force) as stream:
        writer = PredictionWriter(stream, args.format, model.spec.classes)
        with Progress(len(matrix), "rows predicted", enabled=not args.quiet) as progress:
            for start in range(0, len(matrix), BATCH_ROWS):
                batch = matrix[start : start + BATCH_ROWS]
                writer.write(model(batch))
                progress.update(len(batch))
    return 0
