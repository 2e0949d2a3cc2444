"""The pattern's text read back: every stream's line lists that stream's spans in order (the
first `limit` of them), says how many it left out, and the lines come in the order the streams
first appear, named by partition (topic, process) only when there are several."""

from __future__ import annotations

import re

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from chronik_lab.checker.pattern import pattern_text, span_labels

SPAN = st.tuples(st.integers(0, 40), st.integers(0, 2), st.integers(0, 40), st.integers(0, 2))


@st.composite
def patterns(draw) -> pd.DataFrame:
    """A span table as the checker makes it: offset and value ranges per (partition, process)
    stream, optionally with a topic."""
    spans = draw(st.lists(SPAN, min_size=1, max_size=25))
    n = len(spans)
    table = pd.DataFrame(
        {
            "partition": draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)),
            "process": draw(st.lists(st.sampled_from(["c1", "c2"]), min_size=n, max_size=n)),
            "offset_start": [s[0] for s in spans],
            "offset_end": [s[0] + s[1] for s in spans],
            "value_start": [s[2] for s in spans],
            "value_end": [s[2] + s[3] for s in spans],
            "count": [s[1] + 1 for s in spans],
        }
    )
    if draw(st.booleans()):
        table.insert(
            0, "topic", draw(st.lists(st.sampled_from(["a", "b"]), min_size=n, max_size=n))
        )
    return table


def _range(start: int, end: int) -> str:
    return str(start) if start == end else f"{start}–{end}"


@given(patterns(), st.none() | st.integers(1, 4), st.booleans(), st.integers(0, 3))
def test_each_line_lists_its_streams_spans_and_counts_the_rest(pattern, limit, totals, extra):
    keys = [c for c in ("topic", "partition", "process") if c in pattern.columns]
    streams = list(dict.fromkeys(map(tuple, pattern[keys].to_numpy().tolist())))
    given_totals = None
    if totals:  # a sampled report's totals: more spans than the table holds
        given_totals = pattern.groupby(keys).size().rename("spans").reset_index()
        given_totals["spans"] += extra
    lines = pattern_text(pattern, limit, given_totals).split("\n")
    assert len(lines) == (len(streams) if len(streams) > 1 else 1)
    several = pattern["process"].nunique() > 1
    for stream, line in zip(streams, lines, strict=True):
        rows = pattern[[tuple(r) == stream for r in pattern[keys].to_numpy().tolist()]]
        if len(streams) > 1:
            where = dict(zip(keys, stream, strict=True))
            name = f"{where['topic']}-" if "topic" in where else "partition "
            name += f"{where['partition']}" + (f" process {where['process']}" if several else "")
            assert line.startswith(f"{name}: ")
            line = line.removeprefix(f"{name}: ")
        shown = rows if limit is None else rows.head(limit)
        expected = [
            f"{_range(r.offset_start, r.offset_end)} ↦ {_range(r.value_start, r.value_end)}"
            for r in shown.itertuples()
        ]
        hidden = len(rows) - len(shown) + (extra if totals else 0)
        more = re.search(r", … ([\d,]+) more spans$", line)
        assert (int(more.group(1).replace(",", "")) if more else 0) == hidden
        listed = line[: more.start()] if more else line
        assert listed.split(", ") == expected
        assert span_labels(shown).tolist() == expected
