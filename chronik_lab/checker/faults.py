"""Nemesis rows put back among a normalised history's operations (history.normalise_history).

A fault recorder writes its faults as rows of the `nemesis` process (Jepsen's convention: `f`
a word such as "start-fault", `type` "info", partition, offset and value empty). The checker
ignores them; normalising keeps them, in their places, with their words among `f`'s categories
and the number columns nullable, so that charts can draw the faults against the operations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from chronik_lab.checker.history import F_VALUES, NEMESIS, TYPE_VALUES

__all__ = ["with_faults"]


def with_faults(out: pd.DataFrame, faults: pd.DataFrame, history) -> pd.DataFrame:
    """`out` (the normalised operations) with the nemesis rows put back in their places."""
    if isinstance(history, pa.Table):
        history = history.to_pandas()
    words = sorted(set(faults["f"].astype(str)) - set(F_VALUES))
    fault_frame = pd.DataFrame({"op_index": faults["op_index"].to_numpy()})
    fault_frame["process"] = NEMESIS
    fault_frame["f"] = faults["f"].astype(str).to_numpy()
    fault_frame["type"] = faults["type"].astype(str).to_numpy()
    for name in out.columns.difference(fault_frame.columns, sort=False):
        fault_frame[name] = faults[name].to_numpy() if name in faults.columns else None
    where = np.flatnonzero((history["process"].astype(object) == NEMESIS).to_numpy(dtype=bool))
    keep = np.setdiff1d(np.arange(len(history)), where)
    both = pd.concat(
        [out.astype({"process": "str"}), fault_frame[out.columns]], ignore_index=True
    )
    order = np.argsort(np.concatenate([keep, where]), kind="stable")
    both = both.iloc[order].reset_index(drop=True)
    both["f"] = pd.Categorical(both["f"].astype(str), categories=[*F_VALUES, *words])
    both["type"] = pd.Categorical(both["type"].astype(str), categories=list(TYPE_VALUES))
    for name in ("op_index", "partition", "offset", "value"):
        both[name] = pd.array(pd.to_numeric(both[name]), dtype="Int64")
    return both
