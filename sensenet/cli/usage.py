"""The command-line's usage error: a command called the wrong way (exit status 2, like argparse's)."""

from __future__ import annotations

from sensenet.exceptions import SensenetError


class UsageError(SensenetError, ValueError):
    """Missing or extra arguments, or arguments that do not go together."""
