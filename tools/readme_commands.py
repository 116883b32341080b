"""The README's commands as a user copies them, for the tests and the release check that run them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_command(prefix: str) -> str:
    """The first line of a ```bash block in the README that starts with `prefix`."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    return next(line for block in blocks for line in block.splitlines() if line.startswith(prefix))


def readme_example() -> tuple[list[str], str]:
    """The README's first `sensenet predict` command, as words, and the output block shown after it."""
    example = r"```bash\n(sensenet predict [^\n]*)\n```\s*```text\n(.*?)```"
    match = re.search(example, README.read_text(), re.S)
    if not match:
        raise ValueError("README.md must show a `sensenet predict` command followed by its output")
    return shlex.split(match.group(1)), match.group(2)
