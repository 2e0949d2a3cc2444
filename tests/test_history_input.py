"""What the checker refuses and what it accepts beyond its own format: cells that are not single
values, negative partitions and offsets, integers a cast would wrap, a header-only or Latin-1 CSV
(each a one-line HistoryError naming the column and row), and consumer dumps read as poll-only
histories; hypothesis checks the validation against a plain-Python reference of what is valid."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronik_lab.checker.dump import consumer_history, is_consumer_dump, read_ids
from chronik_lab.checker.history import COLUMNS, read_history
from chronik_lab.checker.verdict import check
from chronik_lab.errors import ChronikLabError, HistoryError

REPO = Path(__file__).resolve().parents[1]
SEED_DUMP = REPO / "data" / "observed" / "chronik_v0.7.5_seed.csv"
HEADER = ",".join(COLUMNS)


def history(**columns) -> pd.DataFrame:
    """One acknowledged send of id 0 at offset 0 and one poll receiving it; `columns` replace."""
    base = {
        "op_index": [0, 1],
        "process": [0, 1],
        "f": ["send", "poll"],
        "type": ["ok", "ok"],
        "partition": [0, 0],
        "offset": [0, 0],
        "value": [0, 0],
    }
    return pd.DataFrame(base | columns)


def refused(table, *pieces: str) -> str:
    with pytest.raises(HistoryError) as e:
        check(table)
    message = str(e.value)
    assert isinstance(e.value, ChronikLabError) and "\n" not in message
    for piece in pieces:
        assert piece in message, message
    return message


# --- cells that are not single values --------------------------------------------------------


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("cell", [[1], {"a": 1}], ids=["list", "dict"])
def test_list_or_dict_cells_are_refused_naming_column_and_row(column, cell):
    cells = [{"f": "send", "type": "ok"}.get(column, 0), cell]
    refused(history(**{column: cells}), f"column {column!r}, row 1", type(cell).__name__)


def test_list_cells_in_an_arrow_table_are_refused():
    table = pa.Table.from_pandas(history(process=[[0], [1]]))
    refused(table, "'process'", "list")


def test_bytes_cells_are_refused_as_not_single_values():
    refused(history(process=[b"a", b"b"]), "'process', row 0", "bytes")


# --- values a cast would silently change -----------------------------------------------------


def test_negative_partition_is_refused():
    refused(history(partition=[0, -1]), "'partition'", "row 1", "-1", "negative")


def test_negative_offset_is_refused_on_an_ok_row():
    refused(history(offset=[-3, 0]), "'offset'", "row 0", "-3", "negative")


def test_missing_offset_on_a_failed_send_is_not_called_negative():
    h = history(type=["fail", "ok"], offset=pd.array([None, 0], dtype="Int64"))
    assert check(h).stats["acknowledged"] == 0


@pytest.mark.parametrize("column", ["value", "offset", "op_index"])
def test_uint64_max_is_refused_not_wrapped_to_minus_one(column):
    values = np.array([2**64 - 1, 0], dtype=np.uint64)
    refused(history(**{column: values}), f"{column!r}", "18446744073709551615", "beyond int64")


def test_nullable_uint64_beyond_int64_is_refused():
    values = pd.array([2**64 - 1, None], dtype="UInt64")
    refused(history(offset=values, type=["ok", "fail"]), "'offset'", "beyond int64")


@pytest.mark.parametrize("big", [1e300, -1e300, 2.0**63, 2.0**60])
def test_float_beyond_exact_integers_is_refused_not_cast_to_int64_min(big):
    refused(history(offset=[big, 0.0]), "'offset'", "row 0", "2**53")


def test_python_int_beyond_uint64_in_an_object_column_is_refused():
    refused(history(value=pd.Series([2**70, 0], dtype=object)), "'value'", "int64")


def test_uint64_within_int64_is_accepted():
    assert check(history(offset=np.array([0, 0], dtype=np.uint64))).ok


def test_whole_floats_are_accepted_as_ints():
    assert check(history(offset=[0.0, 0.0], value=[7.0, 7.0])).ok


# --- files -----------------------------------------------------------------------------------


def test_header_only_csv_says_it_has_no_rows(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text(HEADER + "\n")
    with pytest.raises(HistoryError, match="has no rows"):
        read_history(path)


def test_latin1_csv_says_it_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        f"{HEADER}\n0,caf\xe9,send,ok,0,0,0\n1,caf\xe9,poll,ok,0,0,0\n".encode("latin-1")
    )
    with pytest.raises(HistoryError, match=re.escape("is not UTF-8 text: column 'process'")):
        read_history(path)


def test_empty_dataframe_is_a_clean_history():
    report = check(pd.DataFrame({c: [] for c in COLUMNS}))
    assert report.ok and report.stats["received"] == 0


# --- consumer dumps --------------------------------------------------------------------------


def test_the_shipped_seed_dump_is_read_as_a_poll_only_history():
    h = read_history(SEED_DUMP)
    assert (h["f"] == "poll").all() and (h["type"] == "ok").all()
    report = check(h)
    assert report.counts["duplicate"] == 10
    assert report.pattern_text() == "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9"
    assert report.stats["sent"] == 0 and report.stats["received"] == 20


def test_a_dump_without_a_poll_column_is_one_poll_in_row_order():
    dump = pd.DataFrame({"partition": [0, 0, 0], "offset": [0, 1, 1], "value": [5, 6, 6]})
    report = check(consumer_history(dump))
    assert report.counts["nonmonotonic-poll"] == 1
    assert report.stats["redelivered"] == 1 and report.counts["duplicate"] == 0


def test_a_dump_finds_gaps_and_skips_between_polls():
    dump = pd.DataFrame(
        {"poll": [0, 0, 1], "partition": [0, 0, 0], "offset": [0, 1, 5], "message_id": [0, 1, 5]}
    )
    report = check(consumer_history(dump))
    assert report.counts["poll-skip"] == 1 and report.counts["offset-gap"] == 1


def test_a_table_with_f_and_type_is_not_a_dump():
    assert not is_consumer_dump(history())
    assert is_consumer_dump(pd.DataFrame(columns=["partition", "offset", "message_id"]))
    with pytest.raises(HistoryError, match="consumer dump needs"):
        consumer_history(pd.DataFrame({"partition": [0], "id": [1]}))


def test_a_dump_with_a_negative_offset_is_refused():
    dump = pd.DataFrame({"partition": [0], "offset": [-1], "message_id": [0]})
    with pytest.raises(HistoryError, match="'offset'.*negative"):
        consumer_history(dump)


def test_read_ids_takes_a_csv_column_or_separated_ints(tmp_path):
    (tmp_path / "ids.txt").write_text("0, 1 2\n3")
    assert read_ids(tmp_path / "ids.txt") == [0, 1, 2, 3]
    assert read_ids(SEED_DUMP)[:5] == [0, 1, 2, 3, 0]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\xff\xfe\x00binary", "not UTF-8"), (b"1, two", "'two' is not a message id"),
     (b"99999999999999999999999", "beyond int64")],
)  # fmt: skip
def test_read_ids_refuses_binary_words_and_huge_ids(tmp_path, content, message):
    path = tmp_path / "ids.txt"
    path.write_bytes(content)
    with pytest.raises(HistoryError, match=re.escape(message)):
        read_ids(path)


# --- hypothesis: validation against a reference --------------------------------------------

CELLS = st.one_of(
    st.integers(-(2**64), 2**65),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.none(),
)


def valid_int(cell, minimum=None) -> bool:
    """The reference: an exact integer in int64 (a float only within 2**53), at least minimum."""
    if isinstance(cell, bool) or cell is None:
        return False
    if isinstance(cell, float):
        if not (np.isfinite(cell) and cell.is_integer() and abs(cell) <= 2**53):
            return False
        cell = int(cell)
    if not isinstance(cell, int) or not -(2**63) <= cell < 2**63:
        return False
    return minimum is None or cell >= minimum


@given(st.lists(CELLS, min_size=1, max_size=6), st.sampled_from(["partition", "value"]))
def test_an_int_column_is_accepted_exactly_when_every_cell_is_a_valid_int(cells, column):
    n = len(cells)
    table = pd.DataFrame(
        {
            "op_index": range(n),
            "process": [0] * n,
            "f": ["poll"] * n,
            "type": ["ok"] * n,
            "partition": [0] * n,
            "offset": range(n),
            "value": [0] * n,
        }  # fmt: skip
    )
    table[column] = pd.Series(cells, dtype=object)
    minimum = 0 if column == "partition" else None
    want_ok = all(valid_int(c, minimum) for c in cells)
    try:
        report = check(table)
    except HistoryError:
        assert not want_ok, cells
    else:
        assert want_ok, cells
        got = report.pattern["partition"] if column == "partition" else None
        if got is not None:
            assert set(got) <= {int(c) for c in cells}


@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=6))
def test_uint64_columns_are_accepted_exactly_when_they_fit_int64(values):
    table = history(
        op_index=range(len(values)), process=[0] * len(values), f=["poll"] * len(values),
        type=["ok"] * len(values), partition=[0] * len(values),
        offset=np.array(values, dtype=np.uint64), value=range(len(values)),
    )  # fmt: skip
    fits = max(values) < 2**63
    try:
        report = check(table)
    except HistoryError as e:
        assert not fits and "beyond int64" in str(e)
    else:
        assert fits and report.stats["received"] == len(values)


@st.composite
def dumps(draw) -> list[tuple[int, int, int, int]]:
    """Rows (poll, partition, offset, id) as one consumer received them, polls in order."""
    rows = draw(
        st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, 1), st.integers(0, 8), st.integers(0, 6)),
            max_size=25,
        )
    )
    return sorted(rows, key=lambda r: r[0])  # stable: rows of a poll keep their order


def dump_reference(rows) -> dict[str, int]:
    """Duplicates, redeliveries and offsets going back, recounted in Python."""
    offsets_of: dict[tuple[int, int], set[int]] = {}
    last: dict[int, int] = {}
    back = 0
    for _, p, o, v in rows:
        offsets_of.setdefault((p, v), set()).add(o)
        back += p in last and o <= last[p]
        last[p] = o
    records = {(p, o, v) for _, p, o, v in rows}
    return {
        "duplicate": sum(len(s) - 1 for s in offsets_of.values()),
        "redelivered": len(rows) - len(records),
        "nonmonotonic-poll": back,
    }


@given(dumps())
def test_a_dump_is_checked_like_the_reference_recount(rows):
    dump = pd.DataFrame(rows, columns=["poll", "partition", "offset", "message_id"])
    report = check(consumer_history(dump))
    want = dump_reference(rows)
    assert report.counts["duplicate"] == want["duplicate"]
    assert report.stats["redelivered"] == want["redelivered"]
    assert report.counts["nonmonotonic-poll"] == want["nonmonotonic-poll"]
    assert report.counts["lost-write"] == report.counts["unseen"] == 0  # no sends: no loss


def test_a_dump_summary_says_loss_was_not_checked():
    summary = check(read_history(SEED_DUMP)).summary()
    assert "lost: not checked (no sends in the history)" in summary
    assert "lost 0" not in summary
