"""`sensenet serve` soaked: a long run at 80% of capacity with a mix of good, bad and abandoned
requests; the server's RSS and open file descriptors each minute.

Run from the repository root (it reads the BigML fixtures, like the tests):

    python3 benchmarks/serve_soak.py [--minutes 10] [--model image|rows] [--form binary|json|v1]

The capacity is measured first (8 clients for 5 s), then 16 paced clients send at 80% of it:
of every 10 requests, 8 are good, 1 is bad (its JSON's key misspelt: 400) and 1 is
abandoned (its connection closed 2 ms after sending it). Targets: the RSS after the first minute
grows by at most 5%; once the load stops, the open descriptors are what they were before it.
tests/test_serve_soak.py runs 30 seconds of it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's sensenet

from benchmarks.traffic import (
    FORMS,
    MODELS,
    Cut,
    Server,
    exchange,
    get_json,
    load,
    request_bytes,
    write_model,
)

CLIENTS = 16
LOAD_SHARE = 0.8
ABANDON_AFTER = 0.002


@dataclass
class Sample:
    seconds: float
    rss_mb: float
    descriptors: int
    outcomes: Counter
    p99: float


@dataclass
class Soak:
    capacity: float  # answers/s of 8 clients
    descriptors_before: int
    descriptors_after: int
    samples: list[Sample] = field(default_factory=list)

    def rss_growth(self) -> float:
        """RSS at the end over RSS after the first sample."""
        return self.samples[-1].rss_mb / self.samples[0].rss_mb


def bad_request(good: bytes) -> bytes:
    """The good request with its JSON's key misspelt, the same length (the server answers 400)."""
    head, body = good.split(b"\r\n\r\n", 1)
    return head + b"\r\n\r\n" + body.replace(b'"inputs"', b'"inputz"', 1).replace(b'{"rows"', b'{"rowz"', 1)


async def paced_client(
    port: int,
    kinds: list[tuple[str, bytes]],
    interval: float,
    until: float,
    outcomes: Counter,
    latencies: list,
) -> None:
    """Sends `kinds` in turn, one every `interval` seconds, until `until`."""
    writer = None
    next_send = time.monotonic()
    for turn in range(10_000_000):
        if time.monotonic() >= until:
            break
        await asyncio.sleep(max(0.0, next_send - time.monotonic()))
        next_send += interval
        kind, request = kinds[turn % len(kinds)]
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        start = time.monotonic()
        try:
            if kind == "abandoned":
                writer.write(request)
                await asyncio.sleep(ABANDON_AFTER)
                outcomes["abandoned"] += 1
                writer.close()
                writer = None
                continue
            status, headers, _ = await asyncio.wait_for(exchange(reader, writer, request), 60)
        except (Cut, asyncio.TimeoutError):
            outcomes[f"{kind}: reset"] += 1
            writer.close()
            writer = None
            continue
        outcomes[f"{kind}: {status}"] += 1
        if kind == "good" and status == 200:
            latencies.append(time.monotonic() - start)
        if headers.get("connection", "").lower() == "close":
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def soak_load(
    server: Server, request: bytes, rate: float, seconds: float, every: float, report: Callable[[str], Any]
) -> list[Sample]:
    """The paced mix for `seconds`; a sample (reported as it is taken) every `every` seconds."""
    mix = [("good", request)] * 4 + [("bad", bad_request(request))] + [("good", request)] * 4
    mix += [("abandoned", request)]
    samples: list[Sample] = []
    start = time.monotonic()
    outcomes: Counter = Counter()
    latencies: list[float] = []
    interval = CLIENTS / rate
    clients = [
        asyncio.create_task(
            paced_client(
                server.port,
                mix[n % len(mix) :] + mix[: n % len(mix)],
                interval,
                start + seconds,
                outcomes,
                latencies,
            )
        )
        for n in range(CLIENTS)
    ]
    for mark in range(1, int(seconds // every) + 1):
        await asyncio.sleep(max(0.0, start + mark * every - time.monotonic()))
        ordered = sorted(latencies)
        p99 = ordered[int(0.99 * (len(ordered) - 1))] if ordered else float("nan")
        sample = Sample(
            time.monotonic() - start, server.rss_mb(), server.descriptors(), Counter(outcomes), p99
        )
        samples.append(sample)
        report(
            f"{sample.seconds:6.0f} s: RSS {sample.rss_mb:.1f} MB, {sample.descriptors} descriptors, "
            f"good p99 {sample.p99 * 1000:.0f} ms, {dict(sample.outcomes)}"
        )
        outcomes.clear()
        latencies.clear()
    await asyncio.gather(*clients)
    return samples


def print_now(line: str) -> None:
    print(line, flush=True)


def soak(
    server: Server, request: bytes, seconds: float, every: float, report: Callable[[str], Any] = print_now
) -> Soak:
    """Run the soak on a started server; `report` gets a line per sample."""
    tally, took = asyncio.run(load(server.port, request, 8, 5.0))
    capacity = tally.answered / took
    time.sleep(1.0)
    before = server.descriptors()
    load_average = " ".join(f"{figure:.2f}" for figure in os.getloadavg())
    report(
        f"capacity {capacity:.1f} answers/s (8 clients), load {load_average}; soaking at "
        f"{LOAD_SHARE:.0%} of it; descriptors {before}"
    )
    samples = asyncio.run(soak_load(server, request, LOAD_SHARE * capacity, seconds, every, report))
    time.sleep(1.0)
    result = Soak(capacity, before, server.descriptors(), samples)
    report(
        f"RSS growth after the first sample {result.rss_growth() - 1:+.1%} (target <= +5%); descriptors "
        f"{before} before, {result.descriptors_after} after (target: equal)"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--model", choices=sorted(MODELS), default="image")
    parser.add_argument("--form", choices=FORMS, default="binary")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path, rows = write_model(args.model, Path(directory))
        server = Server([path], [], Path(directory) / "server.log")
        server.start()
        try:
            fields = get_json(server.port, f"/v2/models/{args.model}")["inputs"]
            soak(
                server,
                request_bytes(args.model, args.form, fields, rows[:1]),
                args.minutes * 60,
                min(60.0, args.minutes * 20),
            )
            stats = get_json(server.port, f"/v2/models/{args.model}/stats")["model_stats"][0]
            print(f"refusals: {stats['refusal_stats']}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
