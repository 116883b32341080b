"""The local cache of pretrained weights, filled from BigML's public bucket only when a model needs it.

Files live in ``~/.bigml_sensenet`` (or ``$BIGML_SENSENET_CACHE_PATH``) as
``<network>_weights_<version>.h5``. A download goes to a temporary file in the
cache directory, is checked (length against Content-Length, an HDF5 weights
file h5py can open) and only then renamed into place, so the cache never holds
a partial or corrupt file, even when several processes download at once.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from sensenet.exceptions import DownloadError, ModelFormatError
from sensenet.files.writing import publish, temporary_file_beside
from sensenet.pretrained.networks import network_version
from sensenet.pretrained.weights import load_weights, weights_file_format

CACHE_PATH_VARIABLE = "BIGML_SENSENET_CACHE_PATH"
BASE_URL_VARIABLE = "BIGML_SENSENET_WEIGHTS_URL"
DEFAULT_BASE_URL = "https://s3.amazonaws.com/bigml-cnns/"  # the bucket the seed library reads
TIMEOUT_SECONDS = 60
CHUNK_BYTES = 1 << 20


def cache_directory() -> Path:
    """$BIGML_SENSENET_CACHE_PATH when set, else ~/.bigml_sensenet (created on first download)."""
    configured = os.environ.get(CACHE_PATH_VARIABLE)
    return Path(configured).expanduser() if configured else Path.home() / ".bigml_sensenet"


def weights_filename(name: str, version: str) -> str:
    return f"{name}_weights_{version}.h5"


def weights_path(name: str, version: str | None = None) -> Path:
    """Where the weights of network `name` (default: this package's version of it) are cached."""
    return cache_directory() / weights_filename(name, version or network_version(name))


def resolve_base_url(base_url: str | None = None) -> str:
    """The argument, else $BIGML_SENSENET_WEIGHTS_URL, else BigML's bucket; always ending in '/'."""
    url = base_url or os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
    return url if url.endswith("/") else url + "/"


def get_weights(name: str, version: str | None = None, base_url: str | None = None) -> Path:
    """The cached weights file of network `name`, downloaded first if the cache lacks a valid one."""
    target = weights_path(name, version)
    if weights_file_format(target) is None:
        download(resolve_base_url(base_url) + target.name, target)
    return target


def with_pretrained_weights(network: dict, base_url: str | None = None) -> dict:
    """`network` (a pretrained topology, or a model built on one) with its image weights from the cache.

    The weights file is the one named by ``image_network.metadata``
    (``base_image_network`` and ``version``).
    """
    metadata = (network.get("image_network") or {}).get("metadata") or {}
    if not metadata.get("base_image_network") or not metadata.get("version"):
        raise ModelFormatError(
            "pretrained weights need an image network whose metadata names 'base_image_network' and "
            "'version'; this model has none (drop the setting load_pretrained_weights)"
        )
    path = get_weights(metadata["base_image_network"], metadata["version"], base_url)
    return load_weights(network, path)


def _copy_response(url: str, out: BinaryIO) -> tuple[int, int | None]:
    """Stream `url` into `out`; the bytes received and the bytes announced (None if not announced)."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        announced = response.headers.get("Content-Length")
        received = 0
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            received += len(chunk)
    return received, int(announced) if announced and announced.isdigit() else None


def _fetch(url: str, temporary: Path, target: Path) -> None:
    try:
        with open(temporary, "wb") as out:
            received, announced = _copy_response(url, out)
            out.flush()
            os.fsync(out.fileno())
    except urllib.error.HTTPError as error:
        raise DownloadError(
            f"downloading {url} for {target} failed: HTTP {error.code} {error.reason}"
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise DownloadError(
            f"could not download {url} for {target}: {reason}. Check the network connection, "
            f"or put the file there yourself, or set {BASE_URL_VARIABLE} to a mirror that serves it"
        ) from None
    if announced is not None and received != announced:
        raise DownloadError(f"downloading {url} for {target}: got {received} of {announced} bytes")
    if weights_file_format(temporary) is None:
        raise DownloadError(f"{url} gave no HDF5 weights file ({received} bytes); {target} not written")


def download(url: str, target: Path) -> None:
    """Fetch `url` to `target` atomically: checked in a temporary file, then renamed into place."""
    directory = target.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with temporary_file_beside(target) as temporary:
            _fetch(url, temporary, target)
            publish(temporary, target, overwrite=True)
    except OSError as error:
        if isinstance(error, DownloadError):
            raise
        raise DownloadError(
            f"cannot write to the weights cache {directory}: {error}; set {CACHE_PATH_VARIABLE} "
            "to a writable directory"
        ) from None
