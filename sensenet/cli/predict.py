"""`sensenet predict`: predictions for rows, written as CSV or JSON Lines."""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from collections import Counter
from typing import Any

import numpy as np

from sensenet.cli.image_rows import predict_image_rows, predict_images, rows_needed
from sensenet.cli.images import add_image_arguments, expand_images, image_settings, is_image_file
from sensenet.cli.model_file import (
    CACHE_HELP,
    STDIN,
    add_cache_argument,
    add_model_arguments,
    cache_settings,
    open_model,
    split_model_argument,
)
from sensenet.cli.output import OUTPUT_FORMATS, PredictionWriter, check_output, open_output
from sensenet.cli.progress import Progress
from sensenet.cli.rows import INPUT_FORMATS, SUFFIX_FORMATS, RowLayout, RowSource, argument_rows, file_rows
from sensenet.cli.skipping import Skips, add_skip_argument, run_each
from sensenet.cli.usage import UsageError
from sensenet.engines import ENGINES
from sensenet.exceptions import ExtraValuesWarning, InputDataError
from sensenet.models.deepnet import Deepnet
from sensenet.spec.inputs import ImageInput

HELP = "predict rows (arguments, CSV or JSON Lines files, stdin) or images"
USAGE = "sensenet predict [options] (MODEL | - | --example NAME) [ROW | FILE | IMAGE | DIR | GLOB | - ...]"
DESCRIPTION = (
    """\
Predict with a BigML deepnet on rows of input values.

A ROW is one argument of comma-separated values in the order of the model's
input fields ("5.1,3.5,1.4,0.2"); an empty value is missing. An argument is
read as a file instead when it is "-" (stdin), names an existing file, or
ends in .csv, .jsonl or .ndjson. With no ROW or FILE, rows come from stdin.

CSV files start with a header line. When the model is a full BigML resource
(it names its fields), header names are matched to the input fields and
other columns are ignored; otherwise columns are taken in order. A JSON
Lines file holds one array of values, or one object keyed by field name,
per line (other keys are ignored). Errors name the file's line (the header
is line 1), the value's column and the field.

Image models: when the model's only input is one image field, the arguments
are images: image files, directories (their image files, sorted; add
--recursive for subdirectories) and glob patterns, and each record starts with
the image's path. Other image models read rows from CSV or JSON Lines files
whose image columns hold paths, relative to --image-prefix if given, else to
the directory of the file.

Output: one line per row; "prediction" and, for classifiers, "probability"
(of the predicted class) and every class's probability.

"""
    + CACHE_HELP
)
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
    parser.add_argument(
        "--keep-columns",
        metavar="COL,...",
        help="copy these input columns (CSV header names, JSON keys, or the model's field names) "
        "into each output record, before the prediction",
    )
    add_cache_argument(parser)
    add_skip_argument(parser, "rows or images")
    add_image_arguments(parser)


def _is_file_argument(argument: str) -> bool:
    """A file of rows rather than a row: "-", an existing file, or a name ending in a row format's suffix."""
    return (
        argument == "-" or os.path.isfile(argument) or os.path.splitext(argument)[1].lower() in SUFFIX_FORMATS
    )


def _looks_like_file_name(argument: str, row_length: int) -> bool:
    """A name of an absent file rather than a row: no comma, and a path or a file extension."""
    if "," in argument:
        return False
    if "/" in argument or os.sep in argument:
        return True
    return row_length > 1 and re.fullmatch(r"[^\s]+\.[A-Za-z][A-Za-z0-9]{0,4}", argument) is not None


def _row_sources(
    arguments: list[str], layout: RowLayout, input_format: str | None, row_length: int
) -> list[RowSource]:
    if not arguments:
        if sys.stdin.isatty():
            raise UsageError(
                "no rows given: write ROWs as arguments, name a CSV or JSON Lines FILE, or pipe rows in"
            )
        arguments = ["-"]
    sources = []
    pending_rows: list[str] = []
    for argument in arguments:
        if _is_file_argument(argument):
            if pending_rows:
                sources.append(argument_rows(pending_rows, layout))
                pending_rows = []
            sources.append(file_rows(argument, layout, input_format))
        elif _looks_like_file_name(argument, row_length):
            raise InputDataError(
                f"{argument}: no such file (nor a row of {row_length} comma-separated values)"
            )
        else:
            pending_rows.append(argument)
    if pending_rows:
        sources.append(argument_rows(pending_rows, layout))
    return sources


def _row_length(model: Deepnet) -> int:
    return max(field.index for field in model.outline.inputs) + 1


def _layout(model: Deepnet, args: argparse.Namespace) -> RowLayout:
    names = model.row_names
    usable = names if names is not None and len(names) >= _row_length(model) else None
    keep = tuple(name.strip() for name in args.keep_columns.split(",")) if args.keep_columns else ()
    return RowLayout(usable, not args.no_header, keep)


def _extra_values(sources: list[RowSource], row_length: int) -> str | None:
    """The warning, said once after the predictions, when rows hold more values than the model reads."""
    for source in sources:
        for position, row in enumerate(source.rows):
            if isinstance(row, (list, tuple)) and len(row) > row_length:
                return (
                    f"{source.where(position)}: {len(row)} values, but the model reads {row_length}: "
                    "extra values are ignored (said once, for the first such row)"
                )
    return None


def _warn(message: str | None) -> None:
    if message is not None:
        warnings.warn(message, stacklevel=2)


def unknown_categories_note(counts: Counter[str]) -> None:
    """After a run, one line per categorical field that met values not among its categories."""
    for name, count in counts.items():
        if count:
            values = "value" if count == 1 else "values"
            were = "was" if count == 1 else "were"
            _warn(f"{count} {values} of {name!r} {were} not among its categories (treated as missing)")


def _encode(
    model: Deepnet, sources: list[RowSource], quiet: bool, skips: Skips, unknown: Counter[str]
) -> tuple[np.ndarray, list[list[Any]]]:
    """The input matrix of every (good) row and their kept values, all checked before anything is
    written; `unknown` counts the values of those rows that are no category of their field."""
    total = sum(len(source.rows) for source in sources)
    if total == 0:
        raise InputDataError("no rows to predict: the inputs hold no data rows")
    matrices: list[np.ndarray] = []
    kept: list[list[Any]] = []
    with Progress(total, "rows read", enabled=not quiet) as progress:
        for source in sources:
            for start in range(0, len(source.rows), BATCH_ROWS):
                chunk = source.rows[start : start + BATCH_ROWS]
                positions, results = run_each(chunk, model.encode, source.describer(start), skips)
                matrices.extend(results)
                if positions:
                    unknown.update(model.unknown_categories([chunk[position] for position in positions]))
                if source.kept is not None:
                    kept.extend(source.kept[start + position] for position in positions)
                progress.update(len(chunk))
    if not matrices:
        raise InputDataError(f"no rows left to predict: all {total} rows have errors")
    return np.concatenate(matrices), kept


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings = image_settings(args)
    if args.engine:
        settings["engine"] = args.engine
    if args.image_prefix:
        settings["image_path_prefix"] = args.image_prefix
    return {**settings, **cache_settings(args)}


def _is_images_alone(model: Deepnet, arguments: list[str]) -> bool:
    """A model whose only input is one image, given images (not row files, nor rows piped in)."""
    inputs = model.outline.inputs
    alone = len(inputs) == 1 and isinstance(inputs[0], ImageInput)
    row_files = any(a == "-" or os.path.splitext(a)[1].lower() in SUFFIX_FORMATS for a in arguments)
    return alone and not row_files and (bool(arguments) or sys.stdin.isatty())


def _predict_images(
    args: argparse.Namespace, model: Deepnet, arguments: list[str], layout: RowLayout, skips: Skips
) -> int:
    """Predictions of an image model; the number of rows or images given."""
    classes = model.outline.classes
    if _is_images_alone(model, arguments):
        if layout.keep:
            raise UsageError("--keep-columns applies to rows; images alone have only their path, always kept")
        images = expand_images(arguments, args.recursive)
        with open_output(args.output, args.force) as stream:
            writer = PredictionWriter(stream, args.format, classes, ("image",))
            predict_images(model, images, writer, args.quiet, skips)
        return len(images)
    for argument in arguments:
        if is_image_file(argument) or os.path.isdir(argument):
            raise rows_needed(model, argument, layout.names)
    sources = _row_sources(arguments, layout, args.input_format, _row_length(model))
    unknown: Counter[str] = Counter()
    with open_output(args.output, args.force) as stream:
        writer = PredictionWriter(stream, args.format, classes, layout.keep)
        predict_image_rows(model, sources, writer, args.quiet, bool(args.image_prefix), skips, unknown)
    _warn(_extra_values(sources, _row_length(model)))
    unknown_categories_note(unknown)
    return sum(len(source.rows) for source in sources)


def _model(args: argparse.Namespace) -> tuple[Deepnet, list[str]]:
    model_path, arguments = split_model_argument(args, args.inputs)
    if model_path == STDIN and (not arguments or STDIN in arguments):
        raise UsageError(
            "the model is read from stdin (-), so rows cannot be: give rows as arguments or files"
        )
    model = open_model(model_path).create(_settings(args))
    if not isinstance(model, Deepnet):
        raise InputDataError(f"{model_path} is an object detector: use `sensenet detect MODEL IMAGE ...`")
    return model, arguments


def run(args: argparse.Namespace) -> int:
    check_output(args.output, args.force)
    # rows longer than the model's fields: said once after the run, with the file's line (_extra_values)
    warnings.filterwarnings("ignore", category=ExtraValuesWarning)
    model, arguments = _model(args)
    layout = _layout(model, args)
    skips = Skips(args.skip_errors, "predict")
    if model.outline.image_network is not None:
        total = _predict_images(args, model, arguments, layout, skips)
        return skips.exit_status(total, "items")
    sources = _row_sources(arguments, layout, args.input_format, _row_length(model))
    unknown: Counter[str] = Counter()
    matrix, kept = _encode(model, sources, args.quiet, skips, unknown)

    with open_output(args.output, args.force) as stream:
        writer = PredictionWriter(stream, args.format, model.outline.classes, layout.keep)
        with Progress(len(matrix), "rows predicted", enabled=not args.quiet) as progress:
            for start in range(0, len(matrix), BATCH_ROWS):
                batch = matrix[start : start + BATCH_ROWS]
                writer.write(model(batch), kept[start : start + BATCH_ROWS] if layout.keep else None)
                progress.update(len(batch))
    _warn(_extra_values(sources, _row_length(model)))
    unknown_categories_note(unknown)
    return skips.exit_status(sum(len(source.rows) for source in sources), "rows")
