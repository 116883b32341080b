"""The seven pretrained image networks BigML builds deepnets on, and their weights cache.

Topologies are defined in code (like ``keras.applications``): `get_network`
returns a full BigML network dict whose weights are initializer names.
Weights are fetched from BigML's public bucket into the cache only when a
model needs them (`with_pretrained_weights`, `get_weights`), then put in place
by `load_weights`.

Environment: ``BIGML_SENSENET_CACHE_PATH`` moves the cache (default
``~/.bigml_sensenet``); ``BIGML_SENSENET_WEIGHTS_URL`` replaces the base URL
weights are downloaded from (default ``https://s3.amazonaws.com/bigml-cnns/``).
"""

from sensenet.pretrained.cache import (
    BASE_URL_VARIABLE,
    CACHE_PATH_VARIABLE,
    DEFAULT_BASE_URL,
    cache_directory,
    get_weights,
    weights_path,
    with_pretrained_weights,
)
from sensenet.pretrained.networks import NETWORKS, get_network, network_version
from sensenet.pretrained.weights import load_weights, weight_shapes, write_weights

__all__ = [
    "BASE_URL_VARIABLE",
    "CACHE_PATH_VARIABLE",
    "DEFAULT_BASE_URL",
    "NETWORKS",
    "cache_directory",
    "get_network",
    "get_weights",
    "load_weights",
    "network_version",
    "weight_shapes",
    "weights_path",
    "with_pretrained_weights",
    "write_weights",
]
