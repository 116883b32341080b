"""`sensenet convert`: a model written in another runtime's format (`sensenet.export.FORMATS`)."""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from sensenet.cli.model_file import add_model_arguments, open_model, split_model_argument
from sensenet.cli.native_logs import native_logs_silenced
from sensenet.cli.output import FORCE
from sensenet.cli.usage import UsageError
from sensenet.export import FORMATS
from sensenet.files.writing import check_destination
from sensenet.settings import RESCALE_TYPES

HELP = "write a model as TFLite, TensorFlow.js, ONNX, a SavedModel bundle or Keras weights"
USAGE = "sensenet convert [options] (MODEL | - | --example NAME) --to FORMAT -o OUT"
DESCRIPTION = """\
Write a BigML deepnet in another format, at exactly OUT:

  tflite    a LiteRT (TensorFlow Lite) file
  tfjs      a TensorFlow.js graph-model directory
  smbundle  a SavedModel and its settings in one file (sensenet reads it back)
  h5        the Keras model's weights
  onnx      the ONNX graph sensenet's default engine runs

ONNX and TFLite files are self-contained: one input per field, named by the field, raw
values in (numbers, category strings); --matrix-input gives them the encoded matrix instead.

An existing OUT is replaced only with --force (a link is replaced, never
written through; a directory only if it is a TF.js model); a failed or killed
conversion leaves nothing behind. A line on stderr names what was written
(not with --quiet).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = USAGE
    parser.description = DESCRIPTION
    parser.add_argument("inputs", nargs="*", metavar="MODEL", help=argparse.SUPPRESS)
    add_model_arguments(parser)
    parser.add_argument("--to", required=True, choices=sorted(FORMATS), metavar="FORMAT", help="the format")
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="the file (or directory) to write"
    )
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    parser.add_argument(
        "--matrix-input",
        action="store_true",
        help="onnx, tflite: take the encoded input matrix, as the other formats do, not one input per field",
    )
    parser.add_argument(
        "--rescale-type",
        choices=RESCALE_TYPES,
        help="image models: how images are fitted to the input size (tflite: warp only, its default)",
    )


def _size(path: str) -> int:
    if os.path.isdir(path):
        return sum(entry.stat().st_size for entry in os.scandir(path) if entry.is_file())
    return os.path.getsize(path)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size:,} bytes"


def run(args: argparse.Namespace) -> int:
    from sensenet.models.doors import convert

    model_path, extra = split_model_argument(args, args.inputs)
    if extra:
        raise UsageError(f"convert takes one model; unexpected argument(s) {extra}")
    check_destination(args.output, args.force, FORMATS[args.to].replaceable, how_to_overwrite=FORCE)
    settings = {"rescale_type": args.rescale_type} if args.rescale_type else None
    document = open_model(model_path).document
    self_contained = False if args.matrix_input else None
    # Warnings are shown after the block, whose stderr is silenced for TensorFlow's native logs.
    with warnings.catch_warnings(record=True) as caught, native_logs_silenced(not args.debug):
        warnings.simplefilter("default")
        # Libraries' deprecation notices (numpy 2's about Keras' __array__, on h5) are for their authors.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        convert(document, settings, args.output, args.to, overwrite=args.force, self_contained=self_contained)
    for warning in caught:
        warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    if not args.quiet:
        print(
            f"sensenet convert: wrote {args.output} ({args.to}, {_megabytes(_size(args.output))})",
            file=sys.stderr,
        )
    return 0
