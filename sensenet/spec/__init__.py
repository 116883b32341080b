"""The validated model description every engine is built from."""

from typing import Any

from sensenet.spec.model import ModelSpec, parse_network
from sensenet.spec.source import ACCEPTED_FORMS, ModelSource, find_network

__all__ = ["ACCEPTED_FORMS", "ModelSource", "ModelSpec", "find_network", "load_spec", "parse_network"]


def load_spec(anobject: Any) -> ModelSpec:
    """Read any accepted model form and return its description."""
    source = find_network(anobject)
    return parse_network(source.network, source.origin)
