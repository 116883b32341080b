"""`sensenet serve` under rude traffic: a real server process on 127.0.0.1, real clients (aiohttp,
tritonclient), every load bounded in count and time.

Overload is refused at once with 503, Retry-After and the reason, counted in the statistics and
/metrics; a request's deadline (the protocol's `timeout`, or --request-timeout-ms) drops it
uncomputed; a request whose client left is dropped uncomputed; SIGTERM drains (readiness 503,
answers with Connection: close, then the listener closes and the process exits 0).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from benchmarks.traffic import Tally, client, request_bytes, write_model
from tests.conftest import fixture_path
from tests.serving import Server, metric

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("uvicorn")

FORMS = ("binary", "json", "v1")
LOAD_SECONDS = 1.5
IMAGE_ROWS = 8  # rows per request of the image model: a batch of its own (~5-20 ms here)
LEFT_ROWS = 64  # rows per request of the clients that leave: ~50 ms of work each


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple[Path, list[list]]]:
    fixture_path("image_regression.json.gz")
    directory = tmp_path_factory.mktemp("models")
    return {kind: write_model(kind, directory) for kind in ("image", "rows")}


def start(tmp_path: Path, models: dict, *options: str, kinds=("image", "rows")) -> Server:
    server = Server([models[kind][0] for kind in kinds], tmp_path / "server.log", "--workers", "1", *options)
    server.wait_ready()
    return server


def body_of(kind: str, form: str, server: Server, models: dict, rows: int = 1, timeout_us: int = 0):
    """(path, headers, body) of a request to `kind` in `form`, from the bytes the benchmarks send."""
    _, fields = server.request("GET", f"/v2/models/{kind}")
    data = models[kind][1]
    raw = request_bytes(kind, form, fields["inputs"], (data * rows)[:rows], timeout_us)
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = dict(
        line.split(": ", 1) for line in lines[1:] if not line.startswith(("Host", "Content-Length"))
    )
    return lines[0].split()[1], headers, body


async def flood(port: int, request: tuple, clients: int, seconds: float, timeout: float = 30.0) -> list:
    """(status, headers, JSON or None) of every answer, and "gone" for each request given up."""
    path, headers, body = request
    outcomes: list = []
    deadline = time.monotonic() + seconds
    limits = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        f"http://127.0.0.1:{port}", connector=limits, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as session:

        async def one() -> None:
            for _ in range(10_000):
                if time.monotonic() >= deadline:
                    return
                try:
                    async with session.post(path, data=body, headers=headers) as response:
                        answer = await response.read()
                        parsed = json.loads(answer) if response.content_type == "application/json" else None
                        outcomes.append((response.status, dict(response.headers), parsed))
                except asyncio.TimeoutError:
                    outcomes.append("gone")

        await asyncio.gather(*(one() for _ in range(clients)))
    return outcomes


def model_stats(server: Server, kind: str) -> dict:
    status, stats = server.request("GET", f"/v2/models/{kind}/stats")
    assert status == 200
    return stats["model_stats"][0]


def refusals(server: Server, kind: str, reason: str) -> int:
    """The requests to `kind` the statistics say were refused for `reason`."""
    return model_stats(server, kind).get("refusal_stats", {}).get(reason, {}).get("count", 0)


@pytest.fixture(scope="module")
def strict(models, tmp_path_factory):
    """A server whose queue bound is next to nothing: any request queued behind another is refused."""
    with start(tmp_path_factory.mktemp("strict"), models, "--max-queue-ms", "0.01") as server:
        yield server


@pytest.mark.parametrize("kind", ["image", "rows"])
@pytest.mark.parametrize("form", FORMS)
def test_overload_is_refused_at_once_with_retry_after_and_counted(strict, models, kind, form):
    server = strict
    before = refusals(server, kind, "overloaded")
    _, text = server.request("GET", "/metrics")
    counted_before = metric(text, "sensenet_refused_total", 0.0, model=kind, reason="overloaded")
    outcomes = asyncio.run(flood(server.port, body_of(kind, form, server, models), 32, LOAD_SECONDS))
    refused = [o for o in outcomes if o[0] == 503]
    answered = [o for o in outcomes if o[0] == 200]
    assert answered and refused, outcomes[:5]
    assert len(answered) + len(refused) == len(outcomes)
    for _, headers, answer in refused[:20]:
        assert int(headers["Retry-After"]) >= 1
        assert f"model {kind!r} is overloaded" in answer["error"]
        assert "over the bound of 1e-05 s (--max-queue-ms)" in answer["error"]
    assert refusals(server, kind, "overloaded") - before == len(refused)
    _, text = server.request("GET", "/metrics")
    counted = metric(text, "sensenet_refused_total", model=kind, reason="overloaded")
    assert counted - counted_before == len(refused)


def test_server_declares_the_schedule_policy_extension(strict):
    _, metadata = strict.request("GET", "/v2")
    assert "schedule_policy" in metadata["extensions"]
    _, fields = strict.request("GET", "/v2/models/rows")
    tensor = next(t for t in fields["inputs"] if t["datatype"] == "FP32")
    body = {"inputs": [{**tensor, "shape": [1], "data": [1.0]}], "parameters": {"timeout": -3}}
    status, answer = strict.request("POST", "/v2/models/rows/infer", body)
    assert status == 400 and "'timeout' is a whole number of microseconds" in answer["error"]


@pytest.fixture(scope="module")
def patient(models, tmp_path_factory):
    """One worker, no queue bound to speak of, requests of the image model that take a while each."""
    options = ("--request-timeout-ms", "150", "--max-queue-ms", "600000")
    with start(tmp_path_factory.mktemp("patient"), models, *options, kinds=("image",)) as server:
        yield server


@pytest.mark.parametrize("form", FORMS)
def test_a_request_still_queued_at_its_deadline_is_refused_and_never_computed(patient, models, form):
    """/v2 requests carry `timeout` (50 ms); /v1 ones get the server's --request-timeout-ms (150)."""
    server = patient
    before, expired_before = model_stats(server, "image"), refusals(server, "image", "deadline")
    request = body_of("image", form, server, models, IMAGE_ROWS, timeout_us=50_000)
    outcomes = asyncio.run(flood(server.port, request, 32, LOAD_SECONDS))
    expired = [o for o in outcomes if o[0] == 503]
    answered = [o for o in outcomes if o[0] == 200]
    assert expired and answered and len(expired) + len(answered) == len(outcomes), outcomes
    assert all("Request timeout expired" in answer["error"] for _, _, answer in expired), expired
    after = model_stats(server, "image")
    assert refusals(server, "image", "deadline") - expired_before == len(expired)
    # Nothing computed but the answered requests' rows.
    assert after["inference_count"] - before["inference_count"] == IMAGE_ROWS * len(answered)


def test_tritonclient_timeout_is_the_deadline(patient, models):
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    server = patient
    image = fixture_path("images") / "digits" / "3" / "12.png"
    _, metadata = server.request("GET", "/v2/models/image")
    inputs = []
    for tensor in metadata["inputs"]:
        optype = tensor["parameters"]["optype"]
        data = [image.read_bytes()] if optype == "image" else (["b"] if optype == "categorical" else [0.5])
        entry = triton.InferInput(tensor["name"], [1], tensor["datatype"])
        entry.set_data_from_numpy(
            np.array(data, dtype=object if tensor["datatype"] == "BYTES" else np.float32)
        )
        inputs.append(entry)
    client = triton.InferenceServerClient(f"127.0.0.1:{server.port}", concurrency=1)
    try:
        assert client.infer("image", inputs, timeout=1_000_000).as_numpy("probabilities").shape == (1, 2)
        # The one worker busy for a while: 1 us cannot be met.
        backlog = _with_backlog(server, models, lambda: client.infer("image", inputs, timeout=1))
    finally:
        client.close()
    assert isinstance(backlog, InferenceServerException) and backlog.status() == "503"
    assert "Request timeout expired" in backlog.message()


def _with_backlog(server: Server, models: dict, call):
    """The outcome of `call` while 8 clients (in a thread) keep the worker busy."""
    request = body_of("image", "binary", server, models, IMAGE_ROWS, timeout_us=10_000_000)
    with ThreadPoolExecutor(1) as pool:
        load = pool.submit(asyncio.run, flood(server.port, request, 8, 1.0))
        time.sleep(0.3)
        try:
            return call()
        except Exception as error:
            return error
        finally:
            load.result()


@pytest.mark.parametrize("form", ["binary", "v1"])
def test_requests_of_clients_that_left_are_not_computed(models, tmp_path, form):
    """Clients that give up after 0.3 s (aiohttp's timeout closes the connection); one worker
    with ~2 s of their work queued: what was not started is dropped, and a fresh request after
    them is answered at once."""
    with start(tmp_path, models, "--max-queue-ms", "60000", kinds=("image",)) as server:
        request = body_of("image", form, server, models, LEFT_ROWS)
        outcomes = asyncio.run(flood(server.port, request, 40, 0.1, timeout=0.3))
        gone = outcomes.count("gone")
        assert gone >= 10, outcomes
        for _ in range(100):  # the requests taken before their clients left finish
            stats = model_stats(server, "image")
            computed = stats["inference_count"] // LEFT_ROWS
            dropped = refusals(server, "image", "client_gone")
            if computed + dropped == len(outcomes):
                break
            time.sleep(0.05)
        assert computed + dropped == len(outcomes)
        assert dropped >= gone // 2, stats
        start_fresh = time.monotonic()
        fresh = asyncio.run(flood(server.port, body_of("image", form, server, models), 1, 0.001))
        assert fresh[0][0] == 200 and time.monotonic() - start_fresh < 1.0
        _, text = server.request("GET", "/metrics")
        assert metric(text, "sensenet_refused_total", model="image", reason="client_gone") == dropped


def get(port: int, path: str) -> tuple[int | None, str | None]:
    """(status, Connection header) of a GET on a new connection; (None, None) when refused."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("connection")
    except ConnectionRefusedError:
        return None, None
    finally:
        connection.close()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_then_closes_the_listener_and_exits_0(models, tmp_path, stop):
    """SIGTERM: readiness 503 at once, requests answered with Connection: close for
    --drain-seconds, then connections refused and exit 0. SIGINT: the same without the wait."""
    server = start(tmp_path, models, "--drain-seconds", "2", kinds=("rows",))
    request = body_of("rows", "v1", server, models)
    assert get(server.port, "/v2/health/ready") == (200, None)
    signalled = time.monotonic()
    server.process.send_signal(stop)
    seen = []
    try:
        for _ in range(400):  # until the listener closes: one round of every kind of request
            statuses = [get(server.port, path)[0] for path in ("/v2/health/ready", "/v2/models/rows/ready")]
            statuses.append(get(server.port, "/v2/health/live")[0])
            try:
                statuses.append(server.request("POST", request[0], raw=request[2], headers=request[1])[0])
            except ConnectionRefusedError:
                break
            if None in statuses:
                break
            seen.append(tuple(statuses))
            time.sleep(0.05)
        closed = time.monotonic() - signalled
        assert server.process.wait(timeout=10) == 0, server.log.read_text()
    finally:
        server.stop()
    if stop == signal.SIGTERM:
        assert seen and set(seen) == {(503, 503, 200, 200)}, seen
        assert 1.8 < closed < 6
    else:
        assert closed < 1.8
    assert get(server.port, "/v2/health/live") == (None, None)


def test_answers_say_connection_close_while_draining(models, tmp_path):
    server = start(tmp_path, models, "--drain-seconds", "1", kinds=("rows",))
    path, headers, body = body_of("rows", "binary", server, models)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", path, body=body, headers=headers)
        first = connection.getresponse()
        first.read()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        connection.request("POST", path, body=body, headers=headers)  # the same keep-alive connection
        second = connection.getresponse()
        second.read()
        assert (first.status, first.getheader("connection")) == (200, None)
        assert (second.status, second.getheader("connection")) == (200, "close")
        assert server.process.wait(timeout=10) == 0
    finally:
        connection.close()
        server.stop()


@pytest.mark.parametrize("round_", range(3))
def test_no_connection_is_cut_when_the_listener_closes(models, tmp_path, round_):
    """Under connection churn (every answer while draining says Connection: close), the
    connections accepted up to the listener's close are answered: each client ends with a
    refused connection, none with a reset or an unanswered request."""
    server = start(tmp_path, models, "--drain-seconds", "0.3", kinds=("rows",))
    _, fields = server.request("GET", "/v2/models/rows")
    request = request_bytes("rows", "binary", fields["inputs"], models["rows"][1][:1])

    async def scenario() -> Tally:
        tally = Tally()
        until = time.monotonic() + 20
        clients = [
            asyncio.create_task(
                client(server.port, request, until, tally, patience=10, stop_when_refused=True)
            )
            for _ in range(64)
        ]
        await asyncio.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.process.wait, 15) == 0
        await asyncio.gather(*clients)
        return tally

    try:
        tally = asyncio.run(scenario())
    finally:
        server.stop()
    assert set(tally.outcomes) == {"200", "connection refused"}, (tally.outcomes, tally.cuts)
    assert tally.outcomes["connection refused"] == 64


def test_a_lone_rows_cost_does_not_count_against_a_burst():
    """Admission's rate comes from batches at least half full: a model whose lone row costs as
    much as a batch of 8 (as a small network's does) has nothing to refuse until one was seen."""
    from sensenet.serve.batching import MicroBatcher

    def run(items: list) -> list:
        time.sleep(0.04)  # whatever the batch's size
        return items

    async def main() -> list[float]:
        batcher = MicroBatcher(run, max_batch_rows=8, max_wait=0, observe=lambda *_: None, name="m")
        batcher.start()
        await batcher.submit("lone", 1)
        burst = [asyncio.ensure_future(batcher.submit(n, 1)) for n in range(64)]
        await asyncio.sleep(0)
        seen = [batcher.expected_wait()]  # 64 rows queued, only a lone row measured
        await burst[7]  # the first batch of 8 measured
        seen.append(batcher.expected_wait())
        await asyncio.gather(*burst)
        await batcher.stop()
        return seen

    before_a_batch, after_a_batch = asyncio.run(main())
    assert before_a_batch == 0.0
    assert 0.04 / 8 * 40 < after_a_batch < 0.04 / 8 * 64  # 56 rows queued or computing, at 5 ms a row
