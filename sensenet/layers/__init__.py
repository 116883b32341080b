"""The Keras 3 builder: one small function per spec layer type.

Importing this package imports Keras (on the TensorFlow backend); nothing
else in sensenet does so at import time.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
