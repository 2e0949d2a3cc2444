"""Chart data of received vs sent: received records as points (or, past the budget, an offset x
message-id grid of counts: complete, aggregated), lost ids, and the pattern table's runs as
bands. Pure functions of a run's tables; re-exported by chartdata."""

from __future__ import annotations

import numpy as np
import pandas as pd

from chronik_lab.checker.pattern import run_labels
from chronik_lab.sim.tables import CheckedTables, RunTables
from chronik_lab.viz.rows import fit_rows

__all__ = ["GRID_BINS", "lost_points", "pattern_bands", "received_points"]

GRID_BINS = 60  # offset x message-id grid for received records of a big run


def received_points(run: RunTables, partition: int, budget: int = 3_000) -> pd.DataFrame:
    """Received records: offset (client-seen), message_id, status ("first" | "duplicate").

    A record is a duplicate when its message id was already received (earlier in the run).
    Past `budget` rows: an offset x message-id grid instead, with offset_end / id_end, count
    and duplicates per cell, status "duplicate" when the cell holds any.
    """
    rec = run.received
    dup = rec["message_id"].duplicated(keep="first").to_numpy(bool)
    mask = (rec["partition"] == partition).to_numpy(bool)
    pts = pd.DataFrame(
        {
            "offset": rec["offset"].to_numpy(np.int64)[mask],
            "message_id": rec["message_id"].to_numpy(np.int64)[mask],
            "duplicate": dup[mask],
        }
    )
    if len(pts) <= budget:
        return pd.DataFrame(
            {
                "offset": pts["offset"],
                "message_id": pts["message_id"],
                "status": np.where(pts["duplicate"], "duplicate", "first").astype(object),
            }
        )
    return fit_rows(_grid(pts, "offset", "duplicate"), budget)


def lost_points(run: RunTables, partition: int, budget: int = 1_000) -> pd.DataFrame:
    """Sent, acknowledged ids never received, at the offset the producer got back: offset,
    message_id (or a grid like `received_points` past `budget`), status "lost"."""
    sent = run.sent
    sent = sent[(sent["partition"] == partition).to_numpy(bool)]
    lost = sent[~sent["message_id"].isin(run.received["message_id"])]
    pts = pd.DataFrame(
        {
            "offset": lost["offset"].to_numpy("float64", na_value=np.nan),
            "message_id": lost["message_id"].to_numpy(np.int64),
        }
    )
    if len(pts) > budget:
        pts = pts.dropna()
        pts["offset"] = pts["offset"].astype(np.int64)
        out = fit_rows(_grid(pts.assign(duplicate=False), "offset", "duplicate"), budget)
        return out.assign(status="lost")
    return pts.assign(status="lost")


def _grid(pts: pd.DataFrame, x: str, flag: str) -> pd.DataFrame:
    """Count points per cell of a GRID_BINS x GRID_BINS grid over (x, message_id)."""
    cells = {}
    for col in (x, "message_id"):
        lo, hi = int(pts[col].min()), int(pts[col].max()) + 1
        width = max(1, -(-(hi - lo) // GRID_BINS))
        cells[col] = (lo + (pts[col].to_numpy(np.int64) - lo) // width * width, width)
    df = pd.DataFrame({x: cells[x][0], "message_id": cells["message_id"][0], flag: pts[flag]})
    g = df.groupby([x, "message_id"], as_index=False).agg(
        count=(flag, "size"), duplicates=(flag, "sum")
    )
    g[f"{x}_end"] = g[x] + cells[x][1]
    g["id_end"] = g["message_id"] + cells["message_id"][1]
    g["status"] = np.where(g["duplicates"] > 0, "duplicate", "first").astype(object)
    return g


def pattern_bands(run: CheckedTables, partition: int, budget: int = 200) -> pd.DataFrame:
    """The pattern table's runs of one partition as bands, numbered; empty past `budget` runs
    (hundreds of bands are unreadable; the table itself says more)."""
    pattern = run.report.pattern
    pattern = pattern[(pattern["partition"] == partition).to_numpy(bool)]
    if len(pattern) > budget:
        return pattern.iloc[:0].assign(band=0, label="")
    out = pd.DataFrame(
        {
            "offset_start": pattern["offset_start"].to_numpy(np.int64),
            "offset_end": pattern["offset_end"].to_numpy(np.int64),
            "value_start": pattern["value_start"].to_numpy(np.int64),
            "value_end": pattern["value_end"].to_numpy(np.int64),
            "count": pattern["count"].to_numpy(np.int64),
        }
    )
    out["band"] = np.arange(len(out)) % 2
    out["label"] = run_labels(out).to_numpy()  # the same text as CheckReport.pattern_text()
    return out
