"""The seed library's path to the ``.smbundle`` format, which lives in `sensenet.export.bundle`
(the doors read bundles and the smbundle export writes them, so the format sits below both)."""

from sensenet.export.bundle import (
    BLOCK_SIZE,
    BUNDLE_EXTENSION,
    DEEPNET_TYPES,
    GUARD,
    MAX_BLOCKS,
    MAX_DEPTH,
    ROOT,
    SETTINGS_PATH,
    Listing,
    extracted_bundle,
    is_bundle_file,
    is_bundle_path,
    load_bundle,
    read_bundle,
    remove_tree,
    write_bundle,
)

__all__ = [
    "BLOCK_SIZE",
    "BUNDLE_EXTENSION",
    "DEEPNET_TYPES",
    "GUARD",
    "MAX_BLOCKS",
    "MAX_DEPTH",
    "ROOT",
    "SETTINGS_PATH",
    "Listing",
    "extracted_bundle",
    "is_bundle_file",
    "is_bundle_path",
    "load_bundle",
    "read_bundle",
    "remove_tree",
    "write_bundle",
]
