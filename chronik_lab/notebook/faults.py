"""Notebook 08's calls: a workload through faults (`record`), what it shows in one sentence
(`verdict`), which fault caused each anomaly (`causes`), the tables its charts draw (`timeline`,
`orders_cells`) and its summary for the report (`summary`).

The broker is the lab's own server started here (`broker="embedded"`, bugs fixed) or any
Kafka-compatible broker at "HOST:PORT". The client's answer timeout is cut to ANSWER_TIMEOUT_MS
so that a lost acknowledgement costs a second, not the client's default half minute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from chronik_lab.checker.counts import outcome, outcome_sentence
from chronik_lab.checker.verdict import CheckReport, check
from chronik_lab.wire import blame, serve
from chronik_lab.wire.configs import idempotence_config
from chronik_lab.wire.faultrun import FaultRecording, record_faults

__all__ = [
    "FaultRun",
    "anomalous_partitions",
    "causes",
    "orders_cells",
    "record",
    "summary",
    "timeline",
    "verdict",
]

EMBEDDED = "embedded"
ANSWER_TIMEOUT_MS = 1000
LOST = ("lost-write", "unseen")
MAX_COLUMNS, MAX_ROWS = 36, 30


@dataclass(frozen=True)
class FaultRun:
    """One recording under faults and the checker's report on it."""

    client: str
    idempotence: bool
    recording: FaultRecording
    report: CheckReport

    @property
    def label(self) -> str:
        return f"{self.client}, idempotence {'on' if self.idempotence else 'off'}"

    @property
    def final(self) -> pd.DataFrame:
        """The final read (after the faults healed): what the broker holds."""
        r = self.recording.received
        return r[r["final"]].reset_index(drop=True)


def record(broker: str = EMBEDDED, client: str = "kafka-python", idempotence: bool = False,
           faults: Sequence[str] = (), messages: int = 60, seed: int = 0) -> FaultRun:  # fmt: skip
    """The workload through `client` with idempotence on or off, under `faults`."""
    options: dict[str, Any] = dict(
        faults=list(faults), seed=seed, client=client, messages=messages, partitions=1,
        producer_config=idempotence_config(client, idempotence, ANSWER_TIMEOUT_MS),
    )  # fmt: skip
    if broker == EMBEDDED:
        with serve(bugs="fixed", partitions=1) as server:
            rec = record_faults(server.bootstrap, **options)
    else:
        rec = record_faults(broker, **options)
    return FaultRun(client, idempotence, rec, check(rec.history))


def verdict(run: FaultRun) -> str:
    """One sentence: what the final read holds, the checker's verdict, and what caused it."""
    kinds = run.recording.sent["type"].value_counts()
    sent = len(run.recording.sent)
    said = outcome_sentence(sent, outcome(run.final, sent))
    acks = f"{kinds.get('ok', 0)} acknowledged, {kinds.get('info', 0)} indeterminate"
    blamed = causes(run)
    because = ""
    if len(blamed):
        top = blamed.iloc[0]
        because = f"; {_fault_phrase(top)} caused {_ids_phrase(top)}"
    return f"{run.label}: {said} ({acks}); the checker: {run.report.verdict}{because}."


def causes(run: FaultRun) -> pd.DataFrame:
    """Anomalies grouped by the fault that caused them: type, the ids, the fault, when."""
    table = blame.anomaly_causes(run.recording, run.report)
    if table.empty:
        return pd.DataFrame(columns=["anomaly", "ids", "count", "cause", "fault_s", "spec"])
    table = table.assign(
        cause=table["cause"].fillna("no fault near"), spec=table["spec"].fillna("")
    )
    grouped = table.groupby(["type", "cause", "fault_s", "spec"], dropna=False, sort=False)
    rows = [
        {"anomaly": t, "ids": _span(g["value"]), "count": len(g), "cause": c, "fault_s": s,
         "spec": sp}
        for (t, c, s, sp), g in grouped
    ]  # fmt: skip
    return pd.DataFrame(rows)


def timeline(run: FaultRun) -> dict[str, pd.DataFrame]:
    """The tables of viz.timeline.fault_timeline: sent, received, fault intervals, anomalies."""
    rec = run.recording
    intervals = blame.fault_intervals(rec.faults, blame.run_end(rec))
    anomalies = run.report.anomalies
    picked = anomalies[anomalies["type"].isin(["duplicate", *LOST])]
    done = rec.sent.groupby("message_id")["completed_s"].max()
    table = blame.anomaly_causes(rec, run.report)
    cause = dict(zip(table["value"], table["cause"], strict=False))
    rows = [
        {"time_s": done.get(int(a.value)), "type": "lost" if a.type in LOST else a.type,
         "message_id": int(a.value), "cause": cause.get(a.value) or "no fault near"}
        for a in picked.itertuples(index=False) if pd.notna(a.value)
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["time_s", "type", "message_id", "cause"])
    return {"sent": rec.sent, "received": rec.received, "intervals": intervals,
            "anomalies": frame}  # fmt: skip


def anomalous_partitions(run: FaultRun) -> list[int]:
    """The partitions where the checker found an anomaly, in order."""
    return sorted({int(p) for p in run.report.anomalies["partition"].dropna()})


def orders_cells(run: FaultRun, partition: int = 0) -> pd.DataFrame:
    """The cells of viz.orders.orders around the anomalous values of `partition`: the offsets
    they were written at or read from (with two neighbours each side, at most MAX_COLUMNS), the
    sends of those values and the polls that read those offsets (at most MAX_ROWS rows)."""
    ops = run.recording.operations
    ops = ops[ops["partition"] == partition]
    anomalies = run.report.anomalies
    bad = {int(v) for v in anomalies.loc[anomalies["partition"] == partition, "value"].dropna()}
    touched = ops.loc[ops["value"].isin(bad), "offset"].dropna().astype(int)
    if touched.empty:
        return pd.DataFrame(columns=["row", "order", "offset", "value", "type", "anomalous"])
    low = int(touched.min()) - 2
    high = min(int(touched.max()) + 2, low + MAX_COLUMNS - 1)
    inside = ops["offset"].between(low, high) | (ops["value"].isin(bad) & ops["offset"].isna())
    cells = ops[inside & (ops["offset"].notna() | (ops["f"] == "send"))]
    keep = cells["op_index"].drop_duplicates()
    keep = pd.concat([keep.head(MAX_ROWS // 2), keep.tail(MAX_ROWS // 2)]).drop_duplicates()
    cells = cells[cells["op_index"].isin(keep)]
    return pd.DataFrame({
        "row": [f"op {o} {p} {f}" for o, p, f in zip(cells["op_index"], cells["process"],
                                                    cells["f"], strict=True)],
        "order": cells["op_index"].to_numpy(),
        "offset": cells["offset"].astype("Int64").astype(object).where(cells["offset"].notna()),
        "value": cells["value"].astype(int).to_numpy(),
        "type": cells["type"].astype(str).to_numpy(),
        "anomalous": cells["value"].isin(bad).to_numpy(),
    })  # fmt: skip


def summary(parameters: Mapping[str, Any], runs: Iterable[FaultRun]) -> dict[str, Any]:
    """The report's summary: per run (by label) the final read's figures, as `versions`."""
    from chronik_lab.notebook.digest import notebook_summary

    versions = {}
    for run in runs:
        sent = len(run.recording.sent)
        digest = run.report.to_dict()
        versions[run.label] = {
            "sent": sent, "received": len(run.final), "counts": digest["counts"],
            "pattern": run.report.pattern_text(), "outcome": outcome(run.final, sent),
            "ok": run.report.ok, "faults": len(run.recording.faults),
            "causes": causes(run).to_dict(orient="records"),
        }  # fmt: skip
    return notebook_summary("08_faults", parameters, versions=versions)


def _fault_phrase(row: pd.Series) -> str:
    if row["cause"] == "no fault near":
        return "no fault near them"
    return f"the {row['cause']} at {row['fault_s']:.2f} s ({row['spec']})"


def _ids_phrase(row: pd.Series) -> str:
    kind = {"duplicate": "duplicated", "lost-write": "lost", "unseen": "unseen"}.get(
        row["anomaly"], row["anomaly"]
    )
    return f"{row['count']} {kind} (ids {row['ids']})"


def _span(values: pd.Series) -> str:
    ids = sorted(int(v) for v in values.dropna())
    if not ids:
        return "-"
    if ids == list(range(ids[0], ids[-1] + 1)) and len(ids) > 2:
        return f"{ids[0]}–{ids[-1]}"
    return ", ".join(map(str, ids[:8])) + (", …" if len(ids) > 8 else "")
