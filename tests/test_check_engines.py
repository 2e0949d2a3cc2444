"""One checker, three places to run it: in memory, out of core (DuckDB buckets) and on Dask give
the same report, field by field, for every history the other tests use (test_check.py's
hand-made ones, the shipped observations, the bug switches' pinned workloads) and for random
histories (hypothesis). The buckets are forced small so that every partition is checked apart
and the reports are merged."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import test_check as hand
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chronik_lab as cl
from chronik_lab.checker import buckets
from chronik_lab.checker.dispatch import MIN_MEMORY, run_check
from chronik_lab.checker.history import write_history
from chronik_lab.checker.verdict import ANOMALY_TYPES, CheckReport
from chronik_lab.errors import HistoryError

REPO = Path(__file__).resolve().parents[1]
OBSERVED = sorted((REPO / "data" / "observed").glob("*.csv"))
SMALL = MIN_MEMORY  # the least memory limit; BYTES_PER_ROW is raised so buckets are tiny


def same_report(a: CheckReport, b: CheckReport) -> None:
    assert a.counts == b.counts
    assert a.stats == b.stats
    assert a.rows == b.rows
    assert a.ok == b.ok and a.verdict == b.verdict
    pd.testing.assert_frame_equal(a.anomalies, b.anomalies)
    pd.testing.assert_frame_equal(a.pattern, b.pattern)
    pd.testing.assert_frame_equal(a.streams, b.streams)
    assert a.summary() == b.summary()


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@contextlib.contextmanager
def buckets_of(rows: int):
    """Buckets of at most `rows` history rows at the least memory limit."""
    saved = buckets.BYTES_PER_ROW
    buckets.BYTES_PER_ROW = SMALL // max(rows, 1)
    try:
        yield
    finally:
        buckets.BYTES_PER_ROW = saved


def largest_partition(history: pd.DataFrame) -> int:
    keys = [c for c in ("topic", "partition") if c in history.columns]
    ops = history[history["process"].astype(str) != "nemesis"]
    return int(ops.groupby(keys).size().max()) if len(ops) else 1


def all_engines(path: Path, client, largest: int, sample: int | None = 3) -> list[CheckReport]:
    """The reports of the three engines on one history file, buckets holding one partition."""
    reports = [run_check(path, "memory", sample=sample).report]
    with buckets_of(largest):
        reports.append(run_check(path, "duckdb", SMALL, sample=sample).report)
        reports.append(run_check(path, "dask", SMALL, client, sample=sample).report)
    return reports


def assert_engines_agree(history: pd.DataFrame, tmp: Path, client, suffix=".parquet", sample=3):
    path = write_history(history, tmp / f"h{suffix}")
    memory, duck, dask = all_engines(path, client, largest_partition(history), sample)
    same_report(memory, duck)
    same_report(memory, dask)
    if suffix == ".parquet":  # the table in memory, checked directly, says the same
        same_report(cl.check(history, sample=sample), memory)
    return memory


def found_types(report: CheckReport) -> set[str]:
    return {t for t, n in report.counts.items() if n}


# --- the histories the other tests use --------------------------------------------------------


def hand_made() -> dict[str, pd.DataFrame]:
    f, s, p = hand.frame, hand.sends, hand.poll
    two_topics = f(s([0, 1]), p(2, [0, 1]), s([5, 6], [0, 1], first_op=3),
                   p(5, [0, 1], [5, 6], process=101))  # fmt: skip
    two_topics["topic"] = ["a"] * 4 + ["b"] * 4
    return {
        "seed": hand.seed_history(),
        "duplicates": f(p(1, [0, 1, 2, 3, 4, 5], [0, 1, 2, 1, 3, 1])),
        "two consumers": f(s([0, 1, 2]), p(3, [0, 1, 2]), p(4, [0, 1, 2], process=101)),
        "lost-write": f(s([0, 1, 2, 3, 4]), p(5, [0, 1, 3, 4])),
        "unseen": f(s([0, 1, 2, 3, 4]), p(5, [0, 1, 2])),
        "acked twice": f(s([0, 1, 2, 2]), p(4, [0, 1])).assign(offset=[0, 1, 2, 3, 0, 1]),
        "fail and info": f(
            s([0, 1]),
            s([7], [None], first_op=2, type_="fail"),
            s([8], [None], first_op=3, type_="info"),
            p(4, [0, 1]),
        ),  # fmt: skip
        "poll-skip": f(p(1, [0, 1, 2]), p(2, [5, 6]), p(3, [3, 4], process=101)),
        "nonmonotonic-poll": f(p(1, [0, 1, 2]), p(2, [1, 2, 3])),
        "offset two ids": f(s([0, 1, 2]), p(3, [0, 1, 2]), p(4, [1], [9], process=101)),
        "id moved": f(s([0]), p(1, [5], [0])),
        "nonmonotonic-send": f(s([0, 2, 1], [0, 2, 1]), p(3, [0, 1, 2])),
        "offset-gap": f(p(1, [0, 1, 4, 5])),
        "partitions": f(
            s([0, 3, 6], [0, 1, 2], partition=0, process=0),
            s([1, 4], [0, 1], partition=1, process=1, first_op=10),
            s([2, 5, 7], [0, 1, 2], partition=2, process=0, first_op=20),
            p(40, [0, 1], [0, 3], partition=0),
            p(40, [0, 1], [1, 4], partition=1),
            p(42, [0, 1, 2], [2, 5, 7], partition=2, process="consumer-b"),
        ),  # fmt: skip
        "two topics": two_topics,
        "long lists": f(
            s([3] * 14, list(range(14))),
            p(20, list(range(14)), [3] * 14),
            p(21, list(range(30, 50)), [9] * 20, partition=1),
        ),  # fmt: skip
        "out of op order": pd.concat(
            [
                (h := f(s([0, 1, 2, 3]), p(4, [0, 1]), p(5, [2, 3]))).iloc[6:8],
                h.iloc[0:4],
                h.iloc[4:6],
            ]
        ),  # fmt: skip
    }


@pytest.mark.parametrize("name", list(hand_made()))
def test_every_engine_reports_test_checks_histories_alike(name, tmp_path, dask_client):
    history = hand_made()[name]
    assert_engines_agree(history, tmp_path, dask_client)


def test_a_history_in_many_files_and_row_groups_keeps_its_order_on_every_engine(
    tmp_path, dask_client
):
    # Order matters: rows of one poll arrive in row order, and ops come out of op order.
    history = pd.concat(
        [
            hand_made()["out of op order"],
            hand_made()["partitions"].assign(op_index=lambda h: h["op_index"] + 100),
        ],
        ignore_index=True,
    )
    history = history.astype({"process": "str", "offset": "Int64"})
    folder = tmp_path / "history"
    folder.mkdir()
    table = pa.Table.from_pandas(history, preserve_index=False)
    for i, start in enumerate(range(0, len(history), 5)):
        pq.write_table(table.slice(start, 5), folder / f"part-{i:03d}.parquet", row_group_size=2)
    memory, duck, dask = all_engines(folder, dask_client, largest_partition(history))
    same_report(cl.check(history, sample=3), memory)
    same_report(memory, duck)
    same_report(memory, dask)
    assert "nonmonotonic-send" in found_types(memory)  # an order the files must keep


@pytest.mark.parametrize("path", OBSERVED, ids=lambda p: p.name)
def test_every_engine_reports_the_shipped_observations_alike(path, dask_client):
    dump = pd.read_csv(path)
    if dump.empty:  # v0.7.6 delivered nothing: a header alone, refused by every engine
        for engine, client in (("memory", None), ("duckdb", None), ("dask", dask_client)):
            with pytest.raises(HistoryError, match="no rows"):
                run_check(path, engine, client=client)
        return
    memory, duck, dask = all_engines(path, dask_client, len(dump))
    same_report(memory, duck)
    same_report(memory, dask)


@pytest.mark.slow
def test_every_engine_reports_the_bug_switches_workloads_alike(tmp_path, dask_client):
    import test_bug_detection as pinned

    for bug, (others, fields, kind) in {**pinned.PINNED, **pinned.MASKING}.items():
        for bugs in ((bug, *others), others):
            run = cl.run(cl.Scenario(**fields, bugs=bugs))
            report = assert_engines_agree(run.history, tmp_path, dask_client, sample=None)
            assert (kind in found_types(report)) == (bug in bugs) or bug in pinned.MASKING


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_text_histories_are_staged_and_checked_alike(suffix, tmp_path, dask_client):
    history = hand_made()["partitions"]
    assert_engines_agree(history, tmp_path, dask_client, suffix)


# --- random histories ------------------------------------------------------------------------


@st.composite
def messy_histories(draw) -> pd.DataFrame:
    """Rows of any kind in any order: sends ok/fail/info, polls going back and skipping,
    ids repeated, two topics, int or text processes, nemesis rows."""
    n = draw(st.integers(1, 40))
    texts = draw(st.booleans())
    rows = []
    for _ in range(n):
        f = draw(st.sampled_from(["send", "poll", "poll"]))
        kind = draw(st.sampled_from(["ok", "ok", "ok", "fail", "info"])) if f == "send" else "ok"
        process = draw(st.integers(0, 3))
        offset = draw(st.integers(0, 12)) if kind == "ok" else None
        rows.append({"op_index": draw(st.integers(0, n)),
                     "process": f"p{process}" if texts else process, "f": f, "type": kind,
                     "partition": draw(st.integers(0, 2)), "offset": offset,
                     "value": draw(st.integers(0, 9)),
                     "topic": draw(st.sampled_from("ab"))})  # fmt: skip
    history = pd.DataFrame(rows).astype({"offset": "Int64"})
    if texts and draw(st.booleans()):  # a fault injected halfway (kept, never checked)
        fault = {"op_index": n // 2, "process": "nemesis", "f": "start-fault", "type": "info",
                 "partition": None, "offset": None, "value": None, "topic": None}  # fmt: skip
        history = pd.concat([history.iloc[: n // 2], pd.DataFrame([fault]),
                             history.iloc[n // 2 :]], ignore_index=True)  # fmt: skip
    return history


SLOW_EXAMPLES = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.slow
@SLOW_EXAMPLES
@given(history=messy_histories(), sample=st.sampled_from([None, 0, 1, 2]))
def test_random_histories_get_the_same_report_from_every_engine(
    history, sample, tmp_path, dask_client
):
    assert_engines_agree(history, tmp_path, dask_client, sample=sample)


@pytest.mark.slow
@SLOW_EXAMPLES
@given(history=hand.clean_histories())
def test_random_clean_histories_are_ok_on_every_engine(history, tmp_path, dask_client):
    report = assert_engines_agree(history.astype({"offset": "Int64"}), tmp_path, dask_client)
    assert report.ok, report.summary()


def test_a_sample_keeps_the_first_anomalies_of_each_type_with_exact_totals():
    # 30 ids, each received at two offsets, round-robin over three partitions.
    rows = [hand.poll(i, [2 * (i // 3), 2 * (i // 3) + 1], [i, i], partition=i % 3)
            for i in range(30)]  # fmt: skip
    history = hand.frame(*rows)
    full = cl.check(history)
    cut = cl.check(history, sample=4)
    assert cut.counts == full.counts and cut.rows == full.rows
    assert full.rows == {t: 30 if t == "duplicate" else 0 for t in ANOMALY_TYPES}
    assert cut.anomalies["value"].tolist() == [0, 3, 6, 9]  # partition 0 first, then by id
    assert "… 26 more" in cut.summary() and cut.verdict == full.verdict
    assert (cut.pattern.groupby("partition").size() == 4).all()
    assert cut.streams["spans"].tolist() == full.streams["spans"].tolist() == [20, 20, 20]
    assert "… 16 more spans" in cut.pattern_text(4)
    assert cut.pattern_text(4) == full.pattern_text(4)


def test_the_hand_made_histories_hold_every_anomaly_type():
    # The agreement above covers every type only if some history has each: pinned here.
    found = set().union(*(found_types(cl.check(h)) for h in hand_made().values()))
    assert found == set(ANOMALY_TYPES)


# --- consumer dumps (partition, offset, message id) as Parquet -------------------------------


def dump_agrees(dump: pd.DataFrame, tmp: Path, client, sent: int | None = None) -> CheckReport:
    """The three engines' reports (and lost ids) on `dump` written as Parquet, compared."""
    path = tmp / "dump.parquet"
    dump.to_parquet(path, index=False)
    largest = int(dump.groupby([c for c in ("topic", "partition") if c in dump]).size().max())
    runs = [run_check(path, "memory", sample=3, sent=sent)]
    with buckets_of(largest):
        runs.append(run_check(path, "duckdb", SMALL, sample=3, sent=sent))
        runs.append(run_check(path, "dask", SMALL, client, sample=3, sent=sent))
    for other in runs[1:]:
        same_report(runs[0].report, other.report)
        assert (runs[0].lost is None) == (other.lost is None)
        if other.lost is not None:
            assert other.lost.count == runs[0].lost.count
            assert other.lost.first.tolist() == runs[0].lost.first.tolist()
    return runs[0].report


def test_a_parquet_dump_gets_the_same_report_and_lost_ids_from_every_engine(tmp_path, dask_client):
    seed = pd.read_csv(REPO / "data" / "observed" / "chronik_v0.7.5_seed.csv")
    two = pd.concat([seed, seed.assign(partition=1, poll=seed["poll"] + 10)], ignore_index=True)
    report = dump_agrees(two, tmp_path, dask_client, sent=14)
    assert report.counts["duplicate"] == 20 and report.stats["received"] == 40
    no_poll = two.drop(columns="poll").rename(columns={"message_id": "value"})
    assert dump_agrees(no_poll, tmp_path, dask_client).counts == report.counts


@pytest.mark.slow
@SLOW_EXAMPLES
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 2),
            st.integers(0, 8),
            st.integers(0, 6),
            st.sampled_from("ab"),
        ),
        min_size=1,
        max_size=30,
    ),  # fmt: skip
    sent=st.none() | st.integers(0, 9),
)
def test_random_dumps_get_the_same_report_from_every_engine(rows, sent, tmp_path, dask_client):
    rows = sorted(rows, key=lambda r: r[0])  # a poll's rows keep their order
    dump = pd.DataFrame(rows, columns=["poll", "partition", "offset", "message_id", "topic"])
    report = dump_agrees(dump, tmp_path, dask_client, sent)
    assert report.stats["received"] == len(rows)


def test_anomalies_out_holds_the_same_rows_from_every_engine(tmp_path, dask_client):
    # Out of core the file is written a bucket at a time (whole partitions, partition order),
    # so its rows are compared as a set; the report keeps one anomaly of each type.
    made = hand_made()
    parts = [made["partitions"], made["long lists"], made["two consumers"],
             made["nonmonotonic-send"], made["offset-gap"], made["poll-skip"]]  # fmt: skip
    history = pd.concat(
        [p.assign(op_index=p["op_index"] + 100 * i, partition=p["partition"] + 10 * i)
         for i, p in enumerate(parts)],
        ignore_index=True,
    )  # fmt: skip
    path = write_history(history, tmp_path / "h.parquet")
    files = {}
    for engine, limit, client in (("memory", None, None), ("duckdb", SMALL, None),
                                  ("dask", SMALL, dask_client)):  # fmt: skip
        out = tmp_path / f"{engine}.parquet"
        with buckets_of(largest_partition(history)):
            run = run_check(path, engine, limit, client, sample=1, anomalies_out=out)
        files[engine] = pd.read_parquet(out)
        assert len(files[engine]) == sum(run.report.rows.values()) > len(run.report.anomalies)

    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values(["partition", "type", "value", "detail"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(rows(files["memory"]), rows(files["duckdb"]))
    pd.testing.assert_frame_equal(rows(files["memory"]), rows(files["dask"]))


@pytest.mark.slow
def test_a_fault_recorders_history_on_disk_gets_the_same_report_from_every_engine(
    tmp_path, dask_client
):
    # A real run of the fault recorder (wire/faultrun.py) written by its HistoryWriter: nemesis
    # rows, a time column, sends whose acknowledgement was dropped; two partitions.
    from chronik_lab.wire.configs import idempotence_config
    from chronik_lab.wire.faultrun import record_faults

    path = tmp_path / "faults.parquet"
    with cl.serve(bugs="fixed", partitions=2) as server:
        rec = record_faults(
            server.bootstrap, faults=["drop-response:api=produce,at=3"], messages=60, seed=1,
            partitions=2, history_path=path,
            producer_config=idempotence_config("kafka-python", False, 1000),
        )  # fmt: skip
    written = cl.read_history(path)
    assert (written["process"] == "nemesis").sum() == len(rec.faults) >= 1
    memory, duck, dask = all_engines(path, dask_client, largest_partition(written))
    same_report(memory, duck)
    same_report(memory, dask)
    same_report(cl.check(rec.history, sample=3), memory)
    assert memory.counts["duplicate"] >= 1  # the dropped acknowledgement's retry
