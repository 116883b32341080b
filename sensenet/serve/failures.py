"""How a failed request is answered, the same on every transport: one table from what went wrong
to the HTTP status REST answers and the gRPC status code gRPC answers (the HTTP status is also the
`code` label of /metrics for both).

The transports raise and catch; this module decides. A failure not in the table is a fault of the
server: logged with its traceback, answered 500 / INTERNAL without details.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensenet.exceptions import SensenetError
from sensenet.serve.refusals import Refused

SHOWN_NAME = 80  # characters of a name from a client quoted back


class NotServed(Exception):
    """A model, or a version of one, the server does not serve."""


@dataclass(frozen=True)
class Status:
    http: int
    grpc: str  # the name of a grpc.StatusCode (grpc is imported only by its transport)
    internal: bool = False  # the server's fault: logged, its details not shown


STATUSES: tuple[tuple[type[BaseException], Status], ...] = (
    (NotServed, Status(404, "NOT_FOUND")),
    (Refused, Status(503, "UNAVAILABLE")),  # with Retry-After (REST) / a retry-after trailer (gRPC)
    (SensenetError, Status(400, "INVALID_ARGUMENT")),
)
INTERNAL = Status(500, "INTERNAL", internal=True)
INTERNAL_MESSAGE = "internal server error (logged by the server)"


def status_of(error: BaseException) -> Status:
    return next((status for kind, status in STATUSES if isinstance(error, kind)), INTERNAL)


def shown(name: str) -> str:
    """A name from a client, quoted and cut short."""
    return repr(name if len(name) <= SHOWN_NAME else name[:SHOWN_NAME] + "...")
