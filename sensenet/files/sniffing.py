"""What a file is, told from its first bytes: so that a file given where a model (or rows) was
expected is named for what it looks like (a JPEG image, a TensorFlow Lite model, CSV text, ...)
instead of failing as invalid JSON.

`SIGNATURES` is the one registry of the formats recognised; readers decide what each means to
them (a zip or gzip is unpacked, a bundle opened, an image refused with its name).
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD_BYTES = 64  # enough for every signature below
_SHOWN_TEXT = 40


@dataclass(frozen=True)
class Signature:
    kind: str
    description: str  # what a user is told the file is
    magic: bytes
    offset: int = 0

    def matches(self, head: bytes) -> bool:
        return head[self.offset : self.offset + len(self.magic)] == self.magic


BUNDLE_MAGIC = b"bigml_tensorflow_saved_model_bundle"  # the .smbundle format's first bytes (export/bundle)

SIGNATURES: tuple[Signature, ...] = (
    Signature("gzip", "gzip data", b"\x1f\x8b"),
    Signature("zip", "a zip archive", b"PK\x03\x04"),
    Signature("smbundle", "a Sense/Net .smbundle (a TensorFlow SavedModel bundle)", BUNDLE_MAGIC),
    Signature("tflite", "a TensorFlow Lite model", b"TFL3", offset=4),
    Signature("h5", "an HDF5 file (Keras weights?)", b"\x89HDF\r\n\x1a\n"),
    Signature("jpeg", "a JPEG image", b"\xff\xd8\xff"),
    Signature("png", "a PNG image", b"\x89PNG\r\n\x1a\n"),
    Signature("gif", "a GIF image", b"GIF87a"),
    Signature("gif", "a GIF image", b"GIF89a"),
    Signature("tiff", "a TIFF image", b"II*\x00"),
    Signature("tiff", "a TIFF image", b"MM\x00*"),
    Signature("webp", "a WebP image", b"WEBP", offset=8),
    Signature("pdf", "a PDF document", b"%PDF-"),
    Signature("parquet", "a Parquet file", b"PAR1"),
    Signature("npy", "a NumPy array file (.npy)", b"\x93NUMPY"),
)


def sniff(head: bytes) -> Signature | None:
    """The signature `head` (a file's first bytes) starts with, None if it has none we know."""
    return next((signature for signature in SIGNATURES if signature.matches(head)), None)


def looks_like(data: bytes) -> str:
    """What `data` (a whole file, or its start) looks like, for an error message."""
    if not data:
        return "empty"
    signature = sniff(data[:HEAD_BYTES])
    if signature is not None:
        return signature.description
    head = data[:4096]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # not a character cut at the end of the head
            return f"binary data (it begins {data[:8].hex(' ')})"
        text = head[: error.start].decode("utf-8")
    first_line = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    shown = first_line[:_SHOWN_TEXT] + ("..." if len(first_line) > _SHOWN_TEXT else "")
    kind = "CSV text" if "," in first_line and not first_line.lstrip().startswith(("{", "[")) else "text"
    return f"{kind} (it begins {shown!r})"
