"""Small numeric helpers of the quality tracks: rank correlation, percentiles, the leaves of a state."""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence, Tuple


def rank_correlation(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rho (average ranks for ties); 0.0 when either side is constant."""
    import numpy as np

    def ranks(values: Sequence[float]) -> Any:
        arr = np.asarray(values, dtype=float)
        order = arr.argsort(kind="mergesort")
        r = np.empty(len(arr), dtype=float)
        sorted_vals = arr[order]
        i = 0
        while i < len(arr):
            j = i
            while j + 1 < len(arr) and sorted_vals[j + 1] == sorted_vals[i]:
                j += 1
            r[order[i:j + 1]] = (i + j) / 2.0
            i = j + 1
        return r

    rx, ry = ranks(xs), ranks(ys)
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else math.nan


def leaves(value: Any, prefix: str = "") -> Iterable[Tuple[str, Any]]:
    """(dotted path, leaf) pairs of a JSON-like value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from leaves(item, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, value
