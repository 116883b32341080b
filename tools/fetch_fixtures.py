"""Fetch BigML's test fixtures (real deepnets with BigML's predictions, and their images).

    python tools/fetch_fixtures.py DEST [--base-url URL]

then run the tests with ``SENSENET_FIXTURES=DEST`` (or fetch into ``../shared/fixtures``, the
default). The files come from BigML's sensenet repository at a pinned commit, under
``tests/data/``; each is checked against its sha256 in ``tools/fixtures.sha256`` (the test
fixtures' own, ``sha256sum -c`` reads it too). A file is written under a temporary name
beside it and renamed only once its digest matched: a mismatch or a failed download leaves
nothing behind and exits 1, naming the file. A file already there with the right digest is
kept; one with another digest is an error, never overwritten. Only the standard library is
used. The detector and the pretrained topologies are not published there: their tests skip.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import BinaryIO

COMMIT = "47aaa753257cb0f4bfeb5403ede419c4f4aa9a50"
BASE_URL = f"https://raw.githubusercontent.com/bigmlcom/sensenet/{COMMIT}/tests/data/"
MANIFEST = Path(__file__).resolve().with_name("fixtures.sha256")
TIMEOUT_SECONDS = 60  # per connection and per read; the largest file is 1.2 MB
CHUNK = 1 << 16


class FetchError(Exception):
    """A fixture that could not be fetched as pinned; the message names it."""


def manifest() -> dict[str, str]:
    """Relative path -> sha256 of every fixture to fetch."""
    lines = MANIFEST.read_text().splitlines()
    return {name: digest for digest, name in (line.split(maxsplit=1) for line in lines if line.strip())}


def _hashed_copy(source: BinaryIO, out: BinaryIO | None = None) -> str:
    """The sha256 of what `source` holds, copied into `out` on the way when given."""
    hashing = hashlib.sha256()
    while chunk := source.read(CHUNK):
        hashing.update(chunk)
        if out is not None:
            out.write(chunk)
    return hashing.hexdigest()


def file_digest(path: Path) -> str:
    with open(path, "rb") as stream:
        return _hashed_copy(stream)


def download(url: str, out: BinaryIO) -> str:
    """Copy what `url` serves into `out`; its sha256."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:
        return _hashed_copy(answer, out)


def fetch_one(name: str, digest: str, destination: Path, base_url: str) -> bool:
    """Fetch `name` into `destination` unless it is there already; True when it was downloaded."""
    target, url = destination / name, base_url + name
    if target.exists():
        if file_digest(target) != digest:
            raise FetchError(
                f"{target} exists with other content (its sha256 is not {digest}): remove it to fetch it"
            )
        return False
    temporary = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        with os.fdopen(handle, "wb") as out:
            got = download(url, out)
        if got != digest:
            raise FetchError(f"{name}: {url} served a file whose sha256 is {got}, not the pinned {digest}")
        os.replace(temporary, target)
    except (OSError, http.client.HTTPException) as error:
        raise FetchError(f"{name}: cannot fetch {url} into {target}: {error}") from None
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
    return True


def fetch(destination: Path, base_url: str = BASE_URL) -> tuple[int, int]:
    """Every fixture of the manifest into `destination`: (files downloaded, files already there)."""
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    downloaded = kept = 0
    for name, digest in manifest().items():
        if fetch_one(name, digest, destination, base_url):
            downloaded += 1
        else:
            kept += 1
    return downloaded, kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "destination", metavar="DEST", type=Path, help="the fixtures directory (made if absent)"
    )
    parser.add_argument("--base-url", default=BASE_URL, help="where the files are (default: %(default)s)")
    arguments = parser.parse_args(argv)
    try:
        downloaded, kept = fetch(arguments.destination, arguments.base_url)
    except FetchError as error:
        print(f"fetch_fixtures: {error}", file=sys.stderr)
        return 1
    print(f"{downloaded} fixtures fetched, {kept} already there, in {arguments.destination}")
    print(f"run the tests with SENSENET_FIXTURES={arguments.destination.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
