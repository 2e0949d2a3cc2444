"""How a workload splits its messages into produce requests: `batch_sizes="auto"` and its labels.

- `seed_sizes(n)`: what `"auto"` (`AUTO`) means everywhere (cl.Scenario, the notebooks,
  `chronik-lab simulate`): the seed's requests continued, 4, 6, 4, 6, ... messages;
- `split_label` / `short_split`: a split as people read it, "4+6", "1×10", "(4+6)×10,000" --
  the sweep's column, the summaries' and the prose's wording, the CLI's scenario line.
"""

from __future__ import annotations

from collections.abc import Sequence

from chronik_lab import validate
from chronik_lab.errors import ScenarioError

__all__ = ["AUTO", "MAX_MESSAGES", "SEED_REQUEST_SIZES", "seed_sizes", "short_split", "split_label"]

AUTO = "auto"  # batch_sizes: the seed's request sizes, repeated (seed_sizes)
SEED_REQUEST_SIZES = (4, 6)  # the seed's two produce requests
SPELLED_OUT = 6  # splits of up to this many requests are written out in full
# A run holds every message in several tables (sent, received, history, trace): ten times the
# benchmarks' largest run, far below what exhausts memory; past it a count is a typo.
MAX_MESSAGES = 10_000_000
MAX_PERIOD = 4  # the longest repeating pattern split_label writes as pattern × count


def seed_sizes(messages: int) -> tuple[int, ...]:
    """The seed's produce requests continued: 4, 6, 4, 6, ... messages, the last one cut to
    fit. At the seed's 10 messages, its own (4, 6); at 100,000, 20,000 requests.

    This is `batch_sizes="auto"` everywhere (cl.Scenario, the notebooks, `chronik-lab
    simulate`): the same producer as the seed's, sending for longer, so a bigger run keeps the
    seed's request sizes and flush rhythm instead of changing the workload's shape.
    """
    validate.int_between(messages, "messages", 1, MAX_MESSAGES, ScenarioError)
    pair = sum(SEED_REQUEST_SIZES)
    sizes = list(SEED_REQUEST_SIZES) * (messages // pair)
    rest = messages % pair
    for size in SEED_REQUEST_SIZES:
        if rest > 0:
            sizes.append(min(size, rest))
            rest -= sizes[-1]
    return tuple(sizes)


def split_label(batch_sizes: Sequence[int] | None, messages: int) -> str:
    """ "4+6" for two requests of 4 and 6; "1×10" for ten single-message requests; a split
    that repeats a short pattern as the pattern and a count: "(4+6)×10,000" for the seed's
    requests continued to 100,000 messages, "(4+6)×1,000+3" when the last request is cut."""
    if batch_sizes is None:
        return f"1×{messages:,}" if messages >= 10_000 else f"1×{messages}"
    sizes = [int(size) for size in batch_sizes]
    if len(sizes) > SPELLED_OUT:
        for period in range(1, MAX_PERIOD + 1):
            label = _repeated(sizes, period)
            if label:
                return label
    return "+".join(map(str, sizes))


def short_split(batch_sizes: Sequence[int], messages: int) -> list[int] | str:
    """A split as a list while it is spelled out in full (SPELLED_OUT requests at most), else
    its label: what summaries and prose show for 20,000 requests, "(4+6)×10,000"."""
    sizes = [int(size) for size in batch_sizes]
    return sizes if len(sizes) <= SPELLED_OUT else split_label(sizes, messages)


def _repeated(sizes: list[int], period: int) -> str | None:
    """sizes as `period` sizes repeated, then a start of them with its last one cut, or None."""
    unit = sizes[:period]
    for repeats in (len(sizes) // period, (len(sizes) - 1) // period):
        tail = sizes[repeats * period :]
        if repeats < 2 or sizes[: repeats * period] != unit * repeats or len(tail) > period:
            continue
        if tail and (tail[:-1] != unit[: len(tail) - 1] or tail[-1] > unit[len(tail) - 1]):
            continue
        head = "+".join(map(str, unit))
        head = f"({head})" if period > 1 else head
        return f"{head}×{repeats:,}" + "".join(f"+{t}" for t in tail)
    return None
