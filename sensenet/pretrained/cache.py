"""The local cache of pretrained weights, filled from BigML's public bucket only when a model needs it.

Files live in ``~/.bigml_sensenet`` (or ``$BIGML_SENSENET_CACHE_PATH``) as
``<network>_weights_<version>.h5``, each with its sha256 digest beside it
(``<file>.sha256``). A download goes to a temporary ``.part`` file in the cache
directory, is checked (length against Content-Length, an HDF5 weights file
whose layer names, shapes and values fit the network's topology) and only then
renamed into place, so the cache never holds a partial or corrupt file, even
when several processes download at once. A cached file whose digest does not
match is downloaded again; ``.part`` files left by killed downloads are removed
by the next download once they are `STALE_PART_SECONDS` old. A download that
takes longer than ``SENSENET_DOWNLOAD_DEADLINE`` seconds in all (30 minutes by
default) is abandoned.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import BinaryIO

from sensenet.exceptions import DownloadError, ModelFormatError
from sensenet.files.writing import give_open_mode, publish, temporary_file_beside
from sensenet.limits import DOWNLOAD_DEADLINE_SECONDS
from sensenet.pretrained.networks import NETWORKS, get_network, network_version
from sensenet.pretrained.weights import load_weights, weights_file_format

CACHE_PATH_VARIABLE = "BIGML_SENSENET_CACHE_PATH"
BASE_URL_VARIABLE = "BIGML_SENSENET_WEIGHTS_URL"
DEFAULT_BASE_URL = "https://s3.amazonaws.com/bigml-cnns/"  # the bucket the seed library reads
TIMEOUT_SECONDS = 60  # for connecting and for each read
CHUNK_BYTES = 1 << 20
STALE_PART_SECONDS = 600  # a .part file this old belongs to a download that was killed
DIGEST_SUFFIX = ".sha256"
URL_SCHEMES = ("http", "https", "file")


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
    _check_url(url)
    return url if url.endswith("/") else url + "/"


def _check_url(url: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (parsing the port is what raises for a malformed one)
    except (ValueError, TypeError, AttributeError):
        parts = None
    ok = (
        parts is not None
        and parts.scheme in URL_SCHEMES
        and (parts.scheme == "file" or bool(parts.hostname))
        and not any(character.isspace() or ord(character) < 32 for character in url)
    )
    if not ok:
        raise DownloadError(
            f"the weights base URL {url!r} (the argument or ${BASE_URL_VARIABLE}) is not an "
            f"absolute {', '.join(URL_SCHEMES)} URL such as {DEFAULT_BASE_URL}"
        )


def _default_topology(name: str, version: str | None) -> dict | None:
    """The network a download for `name` must fit: this package's topology, when of that version."""
    if name in NETWORKS and (version is None or version == network_version(name)):
        return get_network(name)
    return None


def get_weights(
    name: str, version: str | None = None, base_url: str | None = None, topology: dict | None = None
) -> Path:
    """The cached weights file of network `name`, downloaded first if the cache lacks a valid one.

    A download must fit `topology` (default: the package's own network `name`) before it is cached.

    Args:
        name: a pretrained network (`NETWORKS`).
        version: the weights' version (default: the network's own).
        base_url: where to download from (default: ``BIGML_SENSENET_WEIGHTS_URL``, else BigML's).
        topology: the network the weights must fit.

    Returns:
        The path of the checked weights file in the cache (``BIGML_SENSENET_CACHE_PATH``).

    Raises:
        DownloadError: the download failed, took too long or does not fit the network.
        ModelFormatError: `name` is not a pretrained network.
    """
    target = weights_path(name, version)
    if not _cached_file_is_valid(target):
        url = resolve_base_url(base_url) + target.name
        download(url, target, topology or _default_topology(name, version))
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _digest_path(target: Path) -> Path:
    return target.with_name(target.name + DIGEST_SUFFIX)


def _cached_file_is_valid(target: Path) -> bool:
    """A weights file that matches its recorded digest (or, placed by hand without one, reads as weights)."""
    if weights_file_format(target) is None:
        return False
    try:
        recorded = _digest_path(target).read_text(encoding="ascii").split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        return True  # a file the user put there: the format check above is all we have
    return recorded == _sha256(target)


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
    path = get_weights(metadata["base_image_network"], metadata["version"], base_url, topology=network)
    return load_weights(network, path)


def _copy_response(url: str, out: BinaryIO) -> tuple[int, int | None]:
    """Stream `url` into `out`; the bytes received and the bytes announced (None if not announced).

    Each read returns what has arrived (``read1``), so the overall deadline holds even
    against a server that trickles one byte at a time.
    """
    import urllib.request  # with http.client and ssl: 25 ms that a prediction never needs

    deadline = time.monotonic() + DOWNLOAD_DEADLINE_SECONDS.value()
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        announced = response.headers.get("Content-Length")
        received = 0
        while chunk := response.read1(CHUNK_BYTES):
            out.write(chunk)
            received += len(chunk)
            if time.monotonic() > deadline:
                raise DownloadError(
                    f"downloading {url} took longer than {DOWNLOAD_DEADLINE_SECONDS.value()} seconds "
                    f"({received} bytes received); set {DOWNLOAD_DEADLINE_SECONDS.variable} to allow more"
                )
    return received, int(announced) if announced and announced.isdigit() else None


def _fetch(url: str, temporary: Path, target: Path, topology: dict | None) -> None:
    import http.client
    import urllib.error

    try:
        with open(temporary, "wb") as out:
            received, announced = _copy_response(url, out)
            out.flush()
            os.fsync(out.fileno())
    except DownloadError:
        raise
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
    if topology is not None:
        try:
            load_weights(topology, temporary)
        except ModelFormatError as error:
            raise DownloadError(
                f"{url} gave weights that do not fit the network ({error}); {target} not written"
            ) from None


def _remove_stale_parts(directory: Path) -> None:
    """Delete the ``.part`` files of downloads killed long enough ago that none can still be running."""
    cutoff = time.time() - STALE_PART_SECONDS
    for part in directory.glob(".*.part"):
        try:
            if part.is_file() and not part.is_symlink() and part.stat().st_mtime < cutoff:
                part.unlink()
        except OSError:
            pass  # another process removed or renamed it


def _write_digest(target: Path, digest: str) -> None:
    """The digest file, written beside the weights through a temporary file and a rename."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        give_open_mode(handle)
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(f"{digest}  {target.name}\n")
        os.replace(name, _digest_path(target))
    finally:
        Path(name).unlink(missing_ok=True)


def download(url: str, target: Path, topology: dict | None = None) -> None:
    """Fetch `url` to `target` atomically: checked in a temporary file (against `topology` when
    given), its digest recorded, then renamed into place."""
    directory = target.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _remove_stale_parts(directory)
    except OSError as error:
        raise DownloadError(
            f"cannot write to the weights cache {directory}: {error}; set {CACHE_PATH_VARIABLE} "
            "to a writable directory"
        ) from None
    try:
        with temporary_file_beside(target) as temporary:
            _fetch(url, temporary, target, topology)
            _write_digest(target, _sha256(temporary))
            publish(temporary, target, overwrite=True)
    except OSError as error:
        if isinstance(error, DownloadError):
            raise
        raise DownloadError(f"cannot write {target} in the weights cache: {error}") from None
