"""The out-of-core shuffle's parts (shuffle.py): `KeyMap` gives every row the bucket of its
(topic, partition), whichever lookup it uses, and `BucketFiles` keeps each bucket's rows in the
order they were written, across batches; both checked against plain-Python references."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronik_lab.checker import shuffle
from chronik_lab.checker.shuffle import BucketFiles, KeyMap
from chronik_lab.errors import HistoryError

TOPICS = st.sampled_from(["a", "b", None])
PARTITIONS = st.one_of(st.integers(0, 5), st.just(10**9), st.none())


def key_map(keys: list[tuple], with_topic: bool, dense: int | None = None) -> KeyMap:
    columns = {"partition": pa.array([k[-1] for k in keys], pa.int64())}
    if with_topic:
        columns = {"topic": pa.array([k[0] for k in keys], pa.string()), **columns}
    saved = shuffle.DENSE_KEYS
    if dense is not None:
        shuffle.DENSE_KEYS = dense
    try:
        return KeyMap(pa.table(columns), np.arange(len(keys)) // 2)
    finally:
        shuffle.DENSE_KEYS = saved


@given(
    rows=st.lists(st.tuples(TOPICS, PARTITIONS), min_size=1, max_size=30),
    with_topic=st.booleans(),
    dense=st.sampled_from([None, 1]),
)
def test_every_row_gets_the_bucket_of_its_key(rows, with_topic, dense):
    if not with_topic:
        rows = [(None, p) for _, p in rows]
    keys = sorted(set(rows), key=lambda k: (str(k[0]), k[1] if k[1] is not None else 2**63))
    mapping = key_map(keys, with_topic, dense)
    want = [keys.index(r) // 2 for r in rows]
    columns = {"partition": pa.array([r[1] for r in rows], pa.int64())}
    if with_topic:
        columns = {"topic": pa.array([r[0] for r in rows], pa.string()), **columns}
    got = mapping.buckets(pa.RecordBatch.from_pydict(columns))
    assert got.tolist() == want


@pytest.mark.parametrize("partitions", [[0, 1, 7], [0, None, 1]], ids=["direct", "with-null"])
def test_a_key_the_count_never_saw_is_refused(partitions):
    mapping = key_map([(None, 0), (None, 1)], with_topic=False)
    batch = pa.RecordBatch.from_pydict({"partition": pa.array(partitions, pa.int64())})
    with pytest.raises(HistoryError, match="changed while it was being checked"):
        mapping.buckets(batch)


@given(st.lists(st.lists(st.integers(0, 3), max_size=12), min_size=1, max_size=5))
def test_bucket_files_keep_each_buckets_rows_in_the_order_written(tmp_path_factory, batches):
    directory = tmp_path_factory.mktemp("buckets")
    schema = pa.schema([("row", pa.int64()), ("f", pa.string())])
    files = BucketFiles(directory, schema)
    want: dict[int, list[int]] = {k: [] for k in range(4)}
    row = 0
    for buckets in batches:
        ids = list(range(row, row + len(buckets)))
        row += len(buckets)
        batch = pa.RecordBatch.from_pydict({"row": ids, "f": [f"r{i}" for i in ids]}, schema)
        files.write(batch, np.array(buckets, np.int64))
        for i, k in zip(ids, buckets, strict=True):
            want[k].append(i)
    files.close()
    assert files.rows == row
    for k in range(4):
        table = files.read(k)
        assert table.column("row").to_pylist() == want[k]
        assert table.column("f").to_pylist() == [f"r{i}" for i in want[k]]
        assert all(c.num_chunks <= 1 for c in table.columns)
        files.remove(k)
    assert not list(directory.iterdir())
