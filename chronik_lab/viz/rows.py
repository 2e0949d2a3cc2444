"""The row budget: altair embeds every row of a chart's data in its spec and refuses more than
5,000 per dataset (`MaxRowsError`). The limit stays on; charts keep their *total* under it by
reducing their data first, and `fit_rows` is the last guard."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MAX_ROWS", "fit_rows"]

MAX_ROWS = 5_000  # altair's default per-dataset limit; charts keep their *total* under it


def fit_rows(df: pd.DataFrame, max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """At most `max_rows` rows: `df` itself if it fits, else an evenly strided sample.

    The first and the last rows are always kept, so a line still spans the whole run.
    """
    if max_rows < 1:
        return df.iloc[:0]
    if len(df) <= max_rows:
        return df
    index = np.unique(np.linspace(0, len(df) - 1, max_rows).round().astype(np.int64))
    return df.iloc[index]
