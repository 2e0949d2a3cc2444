"""The checker reads an Arrow table without pandas (columns.py) exactly as it reads the same table
through pandas (history.py): the same arrays, or the same refusal word for word, or (for a shape
it does not take) no answer, so that the pandas path decides. Hypothesis draws tables with empty
offsets, negative values, stray labels, text processes and topics; the reference is
`history_arrays(table.to_pandas())`, the path every Arrow table took before."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronik_lab.checker.columns import arrow_arrays
from chronik_lab.checker.history import history_arrays
from chronik_lab.checker.verdict import check
from chronik_lab.errors import HistoryError

N = st.shared(st.integers(1, 8), key="rows")


def column(values, kind):
    return N.flatmap(lambda n: st.lists(values, min_size=n, max_size=n)).map(
        lambda cells: pa.array(cells, kind)
    )


INTS = st.one_of(st.integers(0, 20), st.integers(0, 20), st.integers(0, 2**62),
                st.integers(-3, -1))  # fmt: skip
OFFSETS = st.one_of(INTS, st.integers(0, 20), st.none(), st.just(2**53 + 1))
# Mostly good labels, now and then a stray one (a refusal whose words must match).
LABELS_F = st.sampled_from(["send", "poll"] * 10 + ["Poll", ""])
LABELS_TYPE = st.sampled_from(["ok", "ok", "fail", "info"] * 5 + ["done"])


@st.composite
def tables(draw) -> pa.Table:
    text_process = draw(st.booleans())
    cols = {
        "op_index": draw(column(INTS, pa.int64())),
        "process": draw(column(st.sampled_from(["p1", "p0", "p2"] * 4 + ["nemesis"]), pa.string()))
        if text_process else draw(column(st.integers(0, 3), pa.int64())),
        "f": draw(column(LABELS_F, pa.string())),
        "type": draw(column(LABELS_TYPE, pa.string())),
        "partition": draw(column(st.sampled_from([0, 1, 2, 3] * 5 + [-1]), pa.int64())),
        "offset": draw(column(OFFSETS, pa.int64())),
        "value": draw(column(INTS, pa.int64())),
    }  # fmt: skip
    if draw(st.booleans()):
        cols["topic"] = draw(column(st.sampled_from(["b", "a", "c"]), pa.string()))
    if draw(st.booleans()):
        cols["f"] = cols["f"].dictionary_encode()  # as pandas writes a categorical
    return pa.table(cols)


def outcome(read, table):
    try:
        return read(table)
    except HistoryError as exc:
        return str(exc)


def same_arrays(a, b) -> None:
    for field in dataclasses.fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if field.name == "extra":
            assert list(x.columns) == list(y.columns) == [] and len(x) == len(y)
        elif x is None or y is None:
            assert x is None and y is None, field.name
        else:
            np.testing.assert_array_equal(x, y, err_msg=field.name)
            assert np.asarray(x).dtype == np.asarray(y).dtype, field.name


@given(tables())
def test_arrow_columns_read_as_the_pandas_path_reads_them_or_defer_to_it(table):
    fast = outcome(arrow_arrays, table)
    if fast is None:
        return  # a shape it does not take: check_table hands the table to history_arrays
    slow = outcome(history_arrays, table.to_pandas())
    if isinstance(slow, str) or isinstance(fast, str):
        assert fast == slow
    else:
        same_arrays(fast, slow)


def test_the_usual_shapes_are_read_without_pandas():
    table = pa.table({
        "op_index": [0, 1, 2], "process": ["p", "c", "c"], "f": ["send", "poll", "send"],
        "type": ["ok", "ok", "info"], "partition": [0, 0, 0], "offset": [0, 0, None],
        "value": [7, 7, 8], "topic": ["t", "t", "t"],
    })  # fmt: skip
    arrays = arrow_arrays(table)
    assert arrays is not None and arrays.offset_missing.tolist() == [False, False, True]
    assert arrays.process_labels.tolist() == ["c", "p"] and arrays.process.tolist() == [1, 0, 0]


@pytest.mark.parametrize(
    "change",
    [
        {"process": ["nemesis", "c"]},  # nemesis rows: set apart by the pandas path
        {"time": [0, 1]},  # a column beyond the format: kept by the pandas path
        {"value": [0, None]},  # an empty id: refused by the pandas path, in its words
        {"offset": [0, 2**60], "type": ["ok", "info"]},  # beyond what the float detour holds
    ],
)
def test_shapes_only_the_pandas_path_judges_are_left_to_it(change):
    base = {"op_index": [0, 1], "process": ["p", "c"], "f": ["send", "poll"], "type": ["ok", "ok"],
            "partition": [0, 0], "offset": [0, 0], "value": [0, 0]}  # fmt: skip
    if "offset" in change:
        change = {**change, "offset": [None, 2**60]}
    assert arrow_arrays(pa.table(base | change)) is None


def test_an_arrow_table_and_its_dataframe_get_the_same_report():
    table = pa.table({
        "op_index": [0, 1, 2, 3, 3, 3], "process": [0, 0, 0, 9, 9, 9],
        "f": ["send"] * 3 + ["poll"] * 3, "type": ["ok", "ok", "info", "ok", "ok", "ok"],
        "partition": [0] * 6, "offset": [0, 1, None, 0, 1, 1], "value": [5, 6, 7, 5, 6, 5],
    })  # fmt: skip
    a, b = check(table), check(table.to_pandas())
    assert a.counts == b.counts and a.stats == b.stats
    pd.testing.assert_frame_equal(a.anomalies, b.anomalies)
    pd.testing.assert_frame_equal(a.pattern, b.pattern)
