"""The bug catalogue and the version presets.

Each bug is one switch in the engine: one guard removed or one step swapped, in the one place
chronik had it (`grep -n "bugs\\." chronik_lab/` lists those places). With no switch on, the
engine is a correct Kafka-style log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chronik_lab.errors import InvalidArgumentError, UnknownBugError


@dataclass(frozen=True)
class Bug:
    name: str
    summary: str
    introduced_in: str
    fixed_in: str
    chronik_commit: str  # the commit that fixed it; for a bug never fixed, one that has it
    where: str


_CATALOGUE = [
    Bug(
        "cumulative_update_buffer",
        "flush_partition also calls update_buffer with every record of every pending batch, "
        "records the produce path already buffered",
        "v0.7.5",
        "v0.7.6",
        "fc6e6ce",
        "engine/produce.py: _complete_flush",
    ),
    Bug(
        "blind_append_buffer",
        "update_buffer does records.extend(records) with no check for offsets already buffered",
        "v0.7.5",
        "v0.7.6",
        "fc6e6ce",
        "engine/buffer.py: update_buffer",
    ),
    Bug(
        "no_mark_flushed",
        "nothing removes flushed records from the fetch-side buffer",
        "v0.7.5",
        "v0.7.6",
        "fc6e6ce",
        "engine/produce.py: _complete_flush",
    ),
    Bug(
        "mark_flushed_clears_all",
        "mark_flushed clears the whole buffer instead of keeping records above the flushed offset",
        "v0.7.6",
        "v1.0",
        "8eb1c4d",
        "engine/buffer.py: mark_flushed",
    ),
    Bug(
        "active_segment_invisible",
        "the active segment is registered with the metadata store (visible to fetch) only when "
        "it rotates (256 MB or 30 s), not on every write (8eb1c4d returns the active segment's "
        "metadata; a1d9255 also uploads it at flush time)",
        "v0.7.4",
        "v1.0",
        "8eb1c4d",
        "engine/segment_log.py: append",
    ),
    Bug(
        "buffer_first_fetch",
        "fetch reads every buffered record in [offset, hw) first, in buffer order, then segments "
        "from the last pushed offset + 1",
        "v0.7.4",
        "v0.7.6",
        "fc6e6ce",
        "engine/fetch.py: fetch",
    ),
    Bug(
        "renumber_response_offsets",
        "the response encoder writes base_offset = records[0].offset and offset_delta = position, "
        "so the client sees records[0].offset + position instead of each record's own offset "
        "(chronik never changed it: harmless once fetch returns each offset once, in order; "
        "the lab's v1.0 turns it off so the fixed engine is a plain Kafka log)",
        "v0.7.5",
        "never",
        "e4f2615",
        "engine/fetch.py: encode_response",
    ),
    Bug(
        "chronik_fetch_range",
        "fetch answers OFFSET_OUT_OF_RANGE only below the log start offset; any offset at or "
        "above the high watermark, however far above the log end, gets an empty response "
        "(Kafka: out of range above the log end offset), so a consumer pushed past the log end "
        "is never told to reset",
        "v0.7.4",
        "never",
        "a25b774",
        "engine/fetch.py: fetch",
    ),
    Bug(
        "hw_only_acks_all",
        "the high watermark advances only for acks=-1 requests: acks=0/1 records stay unreadable",
        "v0.7.4",
        "v0.7.5",
        "3ed116d",
        "engine/produce.py: produce_to_partition",
    ),
]

BUGS: dict[str, Bug] = {bug.name: bug for bug in _CATALOGUE}

_V075 = frozenset(
    {
        "cumulative_update_buffer",
        "blind_append_buffer",
        "no_mark_flushed",
        "active_segment_invisible",
        "buffer_first_fetch",
        "renumber_response_offsets",
        "chronik_fetch_range",
    }
)
# v0.7.6 (fc6e6ce) removed the cumulative update, deduplicated update_buffer, split fetch into
# segment and buffer phases and added mark_flushed -- which cleared the whole buffer while the
# active segment was still invisible: the 90% loss.
_V076 = frozenset(
    {
        "mark_flushed_clears_all",
        "active_segment_invisible",
        "renumber_response_offsets",
        "chronik_fetch_range",
    }
)
# v1.0.0 as released (tag v1.0.0): 8eb1c4d made the active segment visible and mark_flushed keep
# the records above the flushed offset; the fetch range never changed.
_V10 = frozenset({"chronik_fetch_range"})

PRESETS: dict[str, frozenset[str]] = {
    "v0.7.5": _V075,
    "v0.7.6": _V076,
    "v1.0": _V10,
    "fixed": frozenset(),
}


def resolve_bugs(bugs: str | Iterable[str] | None) -> frozenset[str]:
    """Turn a preset name, a bug name, or an iterable of bug names into a set of bug names."""
    if bugs is None:
        return frozenset()
    if isinstance(bugs, str):
        if bugs in PRESETS:
            return PRESETS[bugs]
        names: Iterable[str] = [b for b in bugs.replace("+", ",").split(",") if b.strip()]
    else:
        try:
            names = list(bugs)
        except TypeError:
            raise InvalidArgumentError(
                f"bugs must be a preset name or bug names, not {type(bugs).__name__}"
            ) from None
    resolved: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise InvalidArgumentError(f"bug names must be str, not {type(name).__name__}")
        name = name.strip()
        if name in PRESETS:
            resolved |= PRESETS[name]
        elif name in BUGS:
            resolved.add(name)
        else:
            raise UnknownBugError(name, sorted(BUGS) + sorted(PRESETS))
    return frozenset(resolved)


class BugSet:
    """Attribute access to the active switches: `bugs.no_mark_flushed` is True when it is on.

    One slot per switch, set once here: the handlers read them on every request, and a slot
    costs a few nanoseconds where a __getattr__ lookup cost half a microsecond.
    """

    __slots__ = ("names", *BUGS)

    def __init__(self, bugs: str | Iterable[str] | None = None) -> None:
        self.names = resolve_bugs(bugs)
        for name in BUGS:
            setattr(self, name, name in self.names)

    def __repr__(self) -> str:
        return f"BugSet({sorted(self.names)})"
