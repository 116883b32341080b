"""What counts as a missing value, whatever form the input came in.

None, NaN of any float type, and pandas' NA and NaT (recognised by their type,
so pandas is not imported to ask). Data frame columns are handed over with
their own missing markers: checking a value only where it is not a plain
number or category name costs less than pandas' own `isna` over every column.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_PANDAS_MISSING_TYPES = frozenset({"NAType", "NaTType"})


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, np.floating):
        return bool(np.isnan(value))
    kind = type(value)
    return kind.__name__ in _PANDAS_MISSING_TYPES and kind.__module__.startswith("pandas")
