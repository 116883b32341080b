"""The Keras 3 builder: one small function per spec layer type.

Importing this package imports Keras (on the TensorFlow backend); nothing
else in sensenet does so at import time. Unless the user chose otherwise,
TensorFlow's oneDNN graph rewrites are turned off: with them on, its grappler
prints spurious "failed" errors for residual blocks and results may vary in
the last bits with the op fusion chosen.
"""

import os

from sensenet.extras import require_extra

require_extra("tensorflow", "the Keras engine, TensorFlow-based exports and .smbundle models")

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
