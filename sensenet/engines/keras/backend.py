"""Keras and TensorFlow for modules outside this package.

Importing them from here guarantees that `sensenet.engines.keras` has set their
environment first (an import sorter would otherwise put a plain
``import keras`` ahead of it).
"""

import keras
import tensorflow as tf

__all__ = ["keras", "tf"]
