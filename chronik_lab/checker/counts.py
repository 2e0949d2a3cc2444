"""Outcome counts: received, duplicated and lost, the vocabulary everything above uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["outcome"]


def outcome(ids: Sequence[int], sent: int) -> dict[str, int]:
    """Received, duplicated (received more than once) and lost (never received) counts."""
    arr = np.asarray(ids, dtype=np.int64)
    distinct = np.unique(arr)
    lost = sent - int(np.count_nonzero((distinct >= 0) & (distinct < sent)))
    return {"received": len(arr), "duplicates": len(arr) - len(distinct), "lost": lost}
