"""`sensenet serve` under rude traffic: the cells of issue 27, for one model and request form.

Run from the repository root (it reads the BigML fixtures, like the tests):

    python3 benchmarks/serve_traffic.py [--model image|rows] [--form binary|json|v1]

Cells, on one server with the defaults but ``--drain-seconds 2`` (a fresh one for the SIGTERM):
- ``capacity``: 8 clients for --seconds: answers/s, p50/p99, the server's RSS after;
- ``overload``: 400 clients for 20 s, each sending again as soon as answered or refused:
  answers/s (target >= 0.9x capacity), p99 of the answered (target <= 1.5 s), refusals with and
  without Retry-After, peak RSS (target <= 1.5x the RSS after capacity);
- ``abandoned``: 300 clients for 5 s that give up after 0.5 s (closing the connection, as a load
  balancer's timeout does), then one fresh request: its latency (target <= 1 s) and the requests
  the server dropped because their client had left;
- ``sigterm``: 64 clients; SIGTERM after 2 s while readiness is polled: readiness must answer 503
  while draining, no request may fail except by a refused connection once the listener closed,
  exit 0 within 10 s.
The load generator (benchmarks/traffic.py) runs on the same machine, asyncio clients on
keep-alive connections on 127.0.0.1; give the load of the machine with the figures. Nothing here is
a test: a missed target is printed, not raised.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's sensenet

from benchmarks.traffic import (
    FORMS,
    MODELS,
    Server,
    Tally,
    client,
    get_json,
    get_status,
    load,
    request_bytes,
    write_model,
)

CELLS = ("capacity", "overload", "abandoned", "sigterm")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def summary(label: str, tally: Tally, seconds: float) -> str:
    return (
        f"{label}: {tally.answered / seconds:.1f} answers/s, p50 {tally.percentile(0.5) * 1000:.0f} ms, "
        f"p99 {tally.percentile(0.99) * 1000:.0f} ms; outcomes {dict(tally.outcomes)}"
    )


def target(ok: bool, text: str) -> str:
    return f"  [{'met' if ok else 'MISSED'}] {text}"


class RssPeak:
    """The server's largest RSS, sampled every 0.1 s while running."""

    def __init__(self, server: Server):
        self.server, self.peak, self._stop = server, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.server.rss_mb())
            time.sleep(0.1)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def refusals(port: int, model: str) -> dict:
    stats = get_json(port, f"/v2/models/{model}/stats")["model_stats"][0]
    return {reason: entry["count"] for reason, entry in stats["refusal_stats"].items() if entry["count"]}


def run_cells(args: argparse.Namespace, directory: Path) -> None:
    path, rows = write_model(args.model, directory)
    options = ["--drain-seconds", "2", *args.server_option]
    server = Server([path], options, directory / "server.log")
    server.start()
    fields = get_json(server.port, f"/v2/models/{args.model}")["inputs"]
    request = request_bytes(args.model, args.form, fields, rows[:1])
    print(f"model {args.model}, form {args.form}, request {len(request)} bytes; load {loadavg()}")
    try:
        asyncio.run(load(server.port, request, 8, 2.0))  # warm up
        capacity_rate = rss_capacity = 0.0
        if "capacity" in args.cells or "overload" in args.cells:
            tally, seconds = asyncio.run(load(server.port, request, 8, args.seconds))
            capacity_rate, rss_capacity = tally.answered / seconds, server.rss_mb()
            print(summary("8 clients", tally, seconds) + f"; RSS {rss_capacity:.0f} MB")
        if "overload" in args.cells:
            with RssPeak(server) as rss:
                tally, seconds = asyncio.run(
                    load(server.port, request, 400, 20.0, honor_retry_after=args.honor_retry_after)
                )
            rate = tally.answered / seconds
            print(summary("400 clients", tally, seconds) + f"; peak RSS {rss.peak:.0f} MB; load {loadavg()}")
            print(
                f"  Retry-After seen: {dict(tally.retry_after)}; "
                f"503 without it: {tally.refused_without_retry_after}"
            )
            print(
                target(
                    rate >= 0.9 * capacity_rate, f"answers/s {rate / capacity_rate:.2f}x capacity (>= 0.9)"
                )
            )
            print(target(tally.percentile(0.99) <= 1.5, f"p99 {tally.percentile(0.99):.2f} s (<= 1.5)"))
            print(target(rss.peak <= 1.5 * rss_capacity, f"peak RSS {rss.peak / rss_capacity:.2f}x (<= 1.5)"))
            print(f"  server's refusals: {refusals(server.port, args.model)}")
        if "abandoned" in args.cells:
            tally, seconds = asyncio.run(load(server.port, request, 300, 5.0, patience=0.5))
            print(summary("300 clients giving up after 0.5 s", tally, seconds))
            fresh_tally, _ = asyncio.run(load(server.port, request, 1, 30.0, max_requests=1))
            latency = fresh_tally.latencies[0] if fresh_tally.latencies else float("inf")
            print(
                target(
                    latency <= 1.0, f"a fresh request after them answered in {latency * 1000:.0f} ms (<= 1 s)"
                )
            )
            print(f"  server's refusals: {refusals(server.port, args.model)}")
    finally:
        server.stop()
    if "sigterm" in args.cells:
        sigterm(args, directory, options, request)


def sigterm(args: argparse.Namespace, directory: Path, options: list[str], request: bytes) -> None:
    server = Server([directory / f"{args.model}.json"], options, directory / "sigterm.log")
    server.start()
    readiness: list[tuple[float, int | None]] = []

    def poll() -> None:
        while server.process.poll() is None:
            readiness.append((time.monotonic(), get_status(server.port, "/v2/health/ready")))
            time.sleep(0.05)

    async def scenario() -> tuple[Tally, float, float]:
        tally = Tally()
        start = time.monotonic()
        clients = [
            asyncio.create_task(client(server.port, request, start + 30, tally, stop_when_refused=True))
            for _ in range(64)
        ]
        await asyncio.sleep(2.0)
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = await asyncio.to_thread(server.process.wait, 30)
        exited = time.monotonic()
        await asyncio.gather(*clients)
        return tally, signalled, exited - signalled if code == 0 else float("inf")

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    tally, signalled, took = asyncio.run(scenario())
    poller.join()
    after = [status for when, status in readiness if when > signalled + 0.1]
    failed = {k: v for k, v in tally.outcomes.items() if k not in ("200", "connection refused")}
    print(summary("64 clients, SIGTERM after 2 s", tally, 2.0))
    print(f"  readiness after SIGTERM: {sorted(set(after), key=str)}")
    print(target(503 in after and 200 not in after, "readiness 503 while draining"))
    print(target(not failed, f"no request failed but by a refused connection (failed: {failed})"))
    if tally.cuts:
        print(
            f"  connections cut, s after SIGTERM: {[(round(t - signalled, 3), why) for t, why in tally.cuts]}"
        )
    print(target(took <= 10, f"exit 0 after {took:.1f} s (<= 10)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="image")
    parser.add_argument("--form", choices=FORMS, default="binary")
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=CELLS)
    parser.add_argument("--seconds", type=float, default=10.0, help="time of the capacity cell (default: 10)")
    parser.add_argument(
        "--honor-retry-after",
        action="store_true",
        help="refused clients wait Retry-After before sending again",
    )
    parser.add_argument(
        "--server-option", action="append", default=[], help="one more `sensenet serve` argument (repeatable)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        run_cells(args, Path(directory))


if __name__ == "__main__":
    main()
