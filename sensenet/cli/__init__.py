"""The `sensenet` command: one module per subcommand, listed in `COMMANDS`.

A subcommand module has `HELP` (one line), `add_arguments(parser)` and
`run(args) -> int`; adding one is a new module and one line below. Every
subcommand takes --quiet (what it quiets: the module's `QUIET_HELP`, by
default the progress bar) and --debug. Every failure ends the command with one
line on stderr: exit status 2 for a usage error (`UsageError`, or one argparse
finds), 1 for anything else (a `SensenetError`, an unreadable file, and as a
last resort any other exception, named as an internal error); --debug shows
the traceback instead. Warnings are one line each too. SIGTERM ends a
command as Ctrl-C does, so temporary files are removed either way.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any, NoReturn

from sensenet._version import __version__
from sensenet.cli import cache, convert, detect, features, info, predict, serve
from sensenet.cli.usage import UsageError
from sensenet.exceptions import SensenetError

COMMANDS: dict[str, ModuleType] = {
    "predict": predict,
    "detect": detect,
    "features": features,
    "convert": convert,
    "info": info,
    "serve": serve,
    "cache": cache,
}

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sensenet", description="Run BigML deepnets locally.")
    parser.add_argument("--version", action="version", version=f"sensenet {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name, module in COMMANDS.items():
        parser_of_command = subparsers.add_parser(
            name, help=module.HELP, parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter
        )
        quiet_help = getattr(module, "QUIET_HELP", "no progress bar")
        parser_of_command.add_argument("-q", "--quiet", action="store_true", help=quiet_help)
        module.add_arguments(parser_of_command)
        parser_of_command.set_defaults(command_parser=parser_of_command)
    return parser


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        message = f"{error.filename}: {error.strerror}"
    else:
        message = str(error) or type(error).__name__
    return " ".join(message.split())


def _is_positional(word: str) -> bool:
    """stdin ("-") or a row starting with a negative number, not an option."""
    return word == "-" or word[1:2].isdigit() or (word[1:2] == "." and word[2:3].isdigit())


def _show_warning(command: str) -> Callable[..., None]:
    def show(
        message: Any, category: Any, filename: Any, lineno: Any, file: Any = None, line: Any = None
    ) -> None:
        print(f"sensenet {command}: warning: {' '.join(str(message).split())}", file=sys.stderr)

    return show


class _Termination:
    """SIGTERM raises SystemExit while a command runs, so its `finally` blocks remove temporary files.

    Where Python cannot stop there (native code turning the exit into an error of its own,
    a finaliser, where Python ignores it and the command runs to its end), the command still
    exits as terminated, because `received` remembers the signal: its output is then whole
    or absent, as always.
    """

    def __init__(self) -> None:
        self.received = False

    def _handle(self, signal_number: int, frame: object) -> NoReturn:
        self.received = True
        raise SystemExit(EXIT_TERMINATED)

    @contextmanager
    def as_exit(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGTERM, self._handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)


def _failure(args: argparse.Namespace, error: BaseException, internal: bool = False) -> None:
    message = _one_line(error)
    if internal:
        message = (
            f"internal error ({type(error).__name__}: {message}); run with --debug for the traceback "
            "and please report it"
        )
    print(f"sensenet {args.command}: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    command_parser = args.command_parser
    # Positionals after an option (`features NAME --flag IMAGE ...`) come back as extras,
    # as do rows starting with a negative number ("-1.5,2,3,4").
    unknown = [word for word in extra if word.startswith("-") and not _is_positional(word)]
    if unknown:
        command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.inputs = [*getattr(args, "inputs", []), *extra]
    termination = _Termination()
    with warnings.catch_warnings(), termination.as_exit():
        warnings.showwarning = _show_warning(args.command)
        try:
            status = COMMANDS[args.command].run(args)
            return EXIT_TERMINATED if termination.received else status
        except BrokenPipeError:
            # The reader went away (`sensenet predict ... | head`): stop quietly.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_ERROR
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except UsageError as error:
            if args.debug:
                raise
            command_parser.exit(
                EXIT_USAGE,
                f"{command_parser.prog}: error: {_one_line(error)} (see {command_parser.prog} --help)\n",
            )
        except Exception as error:
            if termination.received:
                return EXIT_TERMINATED
            if args.debug:
                raise
            _failure(args, error, internal=not isinstance(error, (SensenetError, OSError)))
            return EXIT_ERROR
    raise AssertionError("not reached: neither context above swallows an exception")
