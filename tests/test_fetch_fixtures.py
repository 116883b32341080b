"""tools/fetch_fixtures.py against a real HTTP server on 127.0.0.1 serving the fixtures.

The tests never reach the internet: the server serves the fixtures directory (or a copy with
one file changed) in the layout of BigML's repository's tests/data/.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, fixture_path
from tools.fetch_fixtures import file_digest, manifest

TOOL = REPO_ROOT / "tools" / "fetch_fixtures.py"
NOT_UPSTREAM = {"README.md", "pretrained_topologies.json.gz", "detection"}  # not in BigML's tests/data


class Server:
    """A static HTTP server of `root` on 127.0.0.1, counting the files it was asked for."""

    def __init__(self, root: Path):
        self.requests: list[str] = []
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, format, *args):
                outer.requests.append(self.path)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def serve() -> Iterator:
    servers: list[Server] = []

    def start(root: Path) -> Server:
        servers.append(Server(root))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def fetch(destination: Path, url: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(TOOL), str(destination), "--base-url", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def leftovers(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.name.startswith(".") or path.suffix == ".part"]


def copy_of_fixtures(root: Path) -> Path:
    """The manifest's files copied from the fixtures, in the same layout."""
    for name in manifest():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fixture_path(name), root / name)
    return root


def test_the_manifest_pins_every_upstream_fixture_by_its_sha256():
    fixtures = fixture_path("regression.json.gz").parent
    present = {
        path.relative_to(fixtures).as_posix()
        for path in fixtures.rglob("*")
        if path.is_file() and path.relative_to(fixtures).parts[0] not in NOT_UPSTREAM
    }
    assert set(manifest()) == present
    assert len(present) == 45
    for name, digest in manifest().items():
        assert file_digest(fixtures / name) == digest, name


def test_fetch_writes_each_file_byte_identical_then_keeps_it(serve, tmp_path):
    server = serve(fixture_path("regression.json.gz").parent)
    destination = tmp_path / "fixtures"
    first = fetch(destination, server.url)
    assert first.returncode == 0, first.stderr
    assert "45 fixtures fetched, 0 already there" in first.stdout
    assert f"SENSENET_FIXTURES={destination}" in first.stdout
    for name in manifest():
        assert (destination / name).read_bytes() == fixture_path(name).read_bytes(), name
    assert sorted(server.requests) == sorted(f"/{name}" for name in manifest())
    assert not leftovers(destination)

    stamps = {name: (destination / name).stat().st_mtime_ns for name in manifest()}
    again = fetch(destination, server.url.rstrip("/"))  # a base URL without its final slash works too
    assert again.returncode == 0, again.stderr
    assert "0 fixtures fetched, 45 already there" in again.stdout
    assert len(server.requests) == 45, "a file already there was downloaded again"
    assert {name: (destination / name).stat().st_mtime_ns for name in manifest()} == stamps


def test_a_file_served_with_other_bytes_is_an_error_and_leaves_nothing(serve, tmp_path):
    served = copy_of_fixtures(tmp_path / "served")
    changed = served / "images" / "bus.jpg"
    changed.write_bytes(changed.read_bytes()[:-1] + b"\0")
    destination = tmp_path / "fixtures"
    result = fetch(destination, serve(served).url)
    assert result.returncode == 1
    assert "images/bus.jpg" in result.stderr and "sha256" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (destination / "images" / "bus.jpg").exists()
    assert not leftovers(destination)
    for name in manifest():  # the files before it are whole and pinned
        if name < "images/bus.jpg":
            assert file_digest(destination / name) == manifest()[name], name


def test_a_missing_file_or_server_is_an_error_naming_the_file(serve, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    first = sorted(manifest())[0]
    for url in (serve(empty).url, "http://127.0.0.1:9/"):
        destination = tmp_path / "fixtures"
        result = fetch(destination, url)
        assert result.returncode == 1
        assert result.stderr.startswith(f"fetch_fixtures: {first}: cannot fetch {url}{first}"), result.stderr
        assert not destination.exists() or not any(destination.rglob("*"))


def test_a_file_already_there_with_other_content_is_kept_and_named(serve, tmp_path):
    destination = tmp_path / "fixtures"
    destination.mkdir()
    mine = destination / "regression.json.gz"
    mine.write_bytes(b"my own file")
    result = fetch(destination, serve(fixture_path("regression.json.gz").parent).url)
    assert result.returncode == 1
    assert f"{mine} exists with other content" in result.stderr
    assert mine.read_bytes() == b"my own file"
