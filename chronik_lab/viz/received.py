"""Chart data of received vs sent: received records as points (or, past the budget, an offset x
message-id grid of counts: complete, aggregated), lost ids, and the pattern table's spans as
bands. Pure functions of a run's tables; re-exported by chartdata."""

from __future__ import annotations

import numpy as np
import pandas as pd

from chronik_lab.checker.pattern import span_labels
from chronik_lab.sim.tables import CheckedTables, RunTables
from chronik_lab.viz.rows import fit_rows

__all__ = ["GRID_BINS", "lost_points", "pattern_bands", "received_points", "receipt_status"]

GRID_BINS = 60  # offset x message-id grid for received records of a big run


def receipt_status(received: pd.DataFrame) -> np.ndarray:
    """Per received record, in the checker's words (checker/counts.py): "first" (its id's first
    receipt), "duplicate" (the id again, at another offset: written twice) or "redelivered"
    (the same partition, offset and id again: a re-read after a reset, not a duplicate)."""
    again = received.duplicated(subset=["partition", "offset", "message_id"], keep="first")
    seen = received["message_id"].duplicated(keep="first")
    status = np.where(seen.to_numpy(bool), "duplicate", "first").astype(object)
    status[again.to_numpy(bool)] = "redelivered"
    return status


def received_points(run: RunTables, partition: int, budget: int = 3_000) -> pd.DataFrame:
    """Received records: offset (client-seen), message_id, status (`receipt_status`).

    Past `budget` rows: an offset x message-id grid instead, with offset_end / id_end, count,
    duplicates and redelivered per cell; status "duplicate" when the cell holds any duplicate,
    else "redelivered" when it holds a re-read record, else "first".
    """
    rec = run.received
    status = receipt_status(rec)
    mask = (rec["partition"] == partition).to_numpy(bool)
    pts = pd.DataFrame(
        {
            "offset": rec["offset"].to_numpy(np.int64)[mask],
            "message_id": rec["message_id"].to_numpy(np.int64)[mask],
            "status": status[mask],
        }
    )
    if len(pts) <= budget:
        return pts
    flags = pts.assign(
        duplicate=pts["status"] == "duplicate", redelivered=pts["status"] == "redelivered"
    )
    return fit_rows(_grid(flags, "offset", "duplicate"), budget)


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
    again = pts.get("redelivered", False)
    df = pd.DataFrame(
        {x: cells[x][0], "message_id": cells["message_id"][0], flag: pts[flag], "again": again}
    )
    g = df.groupby([x, "message_id"], as_index=False).agg(
        count=(flag, "size"), duplicates=(flag, "sum"), redelivered=("again", "sum")
    )
    g[f"{x}_end"] = g[x] + cells[x][1]
    g["id_end"] = g["message_id"] + cells["message_id"][1]
    status = np.where(g["redelivered"] > 0, "redelivered", "first").astype(object)
    status[(g["duplicates"] > 0).to_numpy(bool)] = "duplicate"
    g["status"] = status
    return g


def pattern_bands(run: CheckedTables, partition: int, budget: int = 200) -> pd.DataFrame:
    """The pattern table's spans of one partition as bands, numbered; empty past `budget` spans
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
    out["label"] = span_labels(out).to_numpy()  # the same text as CheckReport.pattern_text()
    return out
