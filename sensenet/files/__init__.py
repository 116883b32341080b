"""Files the library reads and writes: regular files only, read with size caps, written beside the target and moved into place."""
