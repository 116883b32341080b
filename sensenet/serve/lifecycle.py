"""The server's one lifecycle state, read by the health routes of every transport and driven by
the drain sequence.

SERVING: requests are answered and readiness says so once the models are built. DRAINING (after
SIGTERM or SIGINT): readiness answers 503 at once so load balancers stop sending, requests are
still answered (each HTTP answer with ``Connection: close`` so keep-alive clients reconnect
elsewhere); after the drain delay every transport closes its listener (`on_close`), finishes the
requests it already read, and the process exits. STOPPED: the listeners are closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

SERVING = "serving"
DRAINING = "draining"
STOPPED = "stopped"

log = logging.getLogger("sensenet.serve")


class Lifecycle:
    def __init__(self) -> None:
        self.state = SERVING
        self._closers: list[Callable[[], None]] = []
        self._timer: asyncio.TimerHandle | None = None

    @property
    def serving(self) -> bool:
        return self.state == SERVING

    def on_close(self, close: Callable[[], None]) -> None:
        """Call `close` (a transport closing its listener) when the drain delay is over."""
        self._closers.append(close)

    def drain(self, seconds: float) -> None:
        """Stop being ready now, close the listeners after `seconds`; called on the event loop.
        A second call cuts the remaining delay short (a second Ctrl-C)."""
        if self.state == STOPPED:
            return
        if self.state == SERVING:
            self.state = DRAINING
            log.info("draining: not ready; listeners close in %.3g s", seconds)
        elif self._timer is not None:
            self._timer.cancel()
            seconds = 0
        self._timer = asyncio.get_running_loop().call_later(seconds, self.close)

    def close(self) -> None:
        """Close every transport's listener; requests already read are still answered."""
        if self.state == STOPPED:
            return
        self.state = STOPPED
        if self._timer is not None:
            self._timer.cancel()
        log.info("listeners closed; answering the requests already read")
        for close in self._closers:
            close()
