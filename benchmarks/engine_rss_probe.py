"""Child process of bench_engine.py's `rss` figure: fetch a whole log, report memory as JSON.

    python benchmarks/engine_rss_probe.py DATA_DIR RECORDS PIECE

A fresh process, so that building the log does not leave a peak that hides the fetch's. It opens
the broker on DATA_DIR (recovering the log from its files), resets the kernel's peak-RSS mark
(VmHWM) right before the fetch loop, fetches RECORDS records in pieces of PIECE, digests and drops
each piece, then prints one JSON line. Memory-mapped file pages count toward RSS (as RssFile)
while they are mapped, so the figure includes them; the probe also counts how many maps of
segment files are left once the last piece is dropped (should be 0). Linux only (/proc).
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

import numpy as np
from engine_workload import TOPIC, digest

import chronik_lab as cl


def main(data_dir: str, n: int, piece: int) -> dict:
    broker = cl.Broker(data_dir=data_dir)
    gc.collect()
    method = "VmHWM reset before the loop" if _reset_peak() else "ru_maxrss (conservative)"
    before = _status()
    max_file = max_anon = 0
    got = np.zeros(4, dtype=np.int64)
    start = time.perf_counter()
    offset = 0
    while offset < n:
        records = broker.fetch(TOPIC, 0, offset, max_records=piece).records
        got += digest(records)
        offset += records.num_rows
        now = _status()  # sampled while this piece is still mapped
        max_file, max_anon = max(max_file, now["RssFile"]), max(max_anon, now["RssAnon"])
        del records  # a consumer drops each piece
    seconds = time.perf_counter() - start
    gc.collect()
    peak = _status()["VmHWM"] if method.startswith("VmHWM") else _ru_maxrss()
    maps_left = _segment_maps(data_dir)
    broker.close()
    return {
        "digest": got.tolist(),
        "seconds": seconds,
        "rss_before": before["VmRSS"],
        "peak": peak,
        "method": method,
        "rss_file_before": before["RssFile"],
        "max_rss_file": max_file,
        "max_rss_anon": max_anon,
        "maps_left": maps_left,
    }


def _reset_peak() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM, the peak RSS, to the current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon and RssFile of this process, in bytes."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(rest.split()[0]) * 1024
    return out


def _ru_maxrss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def _segment_maps(data_dir: str) -> int:
    """How many memory maps of the log's files this process still holds."""
    root = str(Path(data_dir).resolve())
    return sum(root in line for line in Path("/proc/self/maps").read_text().splitlines())


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
