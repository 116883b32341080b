"""Why the server refuses a request it could otherwise answer, one exception for every transport.

`Refused` carries a reason (one of `REASONS`), a message for the client and a Retry-After figure
in whole seconds; REST answers it 503 with a ``Retry-After`` header, gRPC UNAVAILABLE.
"""

from __future__ import annotations

OVERLOADED = "overloaded"  # the model's queue is over its bound
DEADLINE = "deadline"  # the request's deadline passed (or would, by the expected wait) before it started
CLIENT_GONE = "client_gone"  # the client closed its connection while the request waited
DRAINING = "draining"  # the server is stopping
LOADING = "loading"  # the model is not built yet
REASONS = (OVERLOADED, DEADLINE, CLIENT_GONE, DRAINING, LOADING)


class Refused(Exception):
    """A request the server declines to compute; the client may try again after `retry_after` s."""

    def __init__(self, reason: str, message: str, retry_after: int = 1):
        assert reason in REASONS, reason
        super().__init__(message)
        self.reason = reason
        self.retry_after = max(1, retry_after)
