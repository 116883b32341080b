"""Bad rows and images in a batch job: the first one ends the command, or with --skip-errors each is
reported on stderr and left out while the rest are scored (exit status `EXIT_SKIPPED`).

Items run in batches; only when a batch fails are its items run one by one, to
find which ones are bad, so a clean job pays nothing for the check.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sensenet.exceptions import InputDataError

EXIT_SKIPPED = 3  # the command finished, but some items were left out
Item = TypeVar("Item")


def add_skip_argument(parser: argparse.ArgumentParser, items: str) -> None:
    parser.add_argument(
        "--skip-errors",
        action="store_true",
        help=f"report bad {items} on stderr and go on with the rest (exit status {EXIT_SKIPPED} if any)",
    )


def item_message(error: BaseException) -> str:
    """An error raised for a batch of one, without its "row 0" (the caller says where the item is)."""
    message = " ".join(str(error).split())
    for prefix in ("row 0, ", "row 0: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


class Skips:
    """The items left out with --skip-errors, reported as they come."""

    def __init__(self, enabled: bool, command: str):
        self.enabled = enabled
        self.command = command
        self.count = 0

    def add(self, message: str) -> None:
        """One item left out; `message` says where it is and what is wrong."""
        self.count += 1
        print(f"sensenet {self.command}: skipped {message}", file=sys.stderr)

    def exit_status(self, total: int, unit: str) -> int:
        if not self.count:
            return 0
        print(f"sensenet {self.command}: {self.count} of {total} {unit} skipped (see above)", file=sys.stderr)
        return EXIT_SKIPPED


Describe = Callable[[int, InputDataError], str]  # an item's position and error -> the message


def located(where: Callable[[int], str]) -> Describe:
    """Messages saying where an item is (`where` of its position), then what is wrong with it."""
    return lambda position, error: f"{where(position)}: {item_message(error)}"


def run_each(
    items: Sequence[Item], run: Callable[[list[Item]], Any], describe: Describe, skips: Skips
) -> tuple[list[int], list[Any]]:
    """`run` on all `items` at once; when that fails, on each item alone.

    Returns the positions of the items that ran and the results of the calls
    (one for the whole batch, or one per good item). A bad item ends the job
    with the message `describe` gives (where it is, what is wrong, maybe down
    to a value inside it), unless `skips` is enabled.
    """
    try:
        return list(range(len(items))), [run(list(items))]
    except InputDataError as error:
        batch_error = error
    kept, results = [], []
    for position, item in enumerate(items):
        try:
            results.append(run([item]))
        except InputDataError as error:
            message = describe(position, error)
            if not skips.enabled:
                raise InputDataError(message) from None
            skips.add(message)
        else:
            kept.append(position)
    if len(kept) == len(items):  # the batch fails as a whole, not any item
        raise batch_error
    return kept, results
