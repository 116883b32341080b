"""The version of Sense/Net: its one source (the package, `sensenet --version` and the wheel's
metadata read it), on the ground floor so that any module may import it."""

__version__ = "0.1.0"
