"""bench_check.py's figures on a history on disk (a gen_history.py directory).

Each side runs in a fresh Python process (`python check_figures.py SIDE DIR LIMIT`), which prints
one JSON line: wall seconds, its peak RSS (getrusage: DuckDB's memory and the check's threads
are in it) and the report's counts and stats; the parent prints the table and the verdicts.
"""

from __future__ import annotations

import glob
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RSS_TARGET_MB = 3 * 1024
TIME_TARGET = 1.5


def side(name: str, data: str, limit: str) -> dict:
    """Run one side here and return its figures (the child's work)."""
    start = time.perf_counter()
    result = _bare_query(data, limit) if name == "bare" else _check(name, data, limit)
    result["seconds"] = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["rss_mb"] = usage.ru_maxrss / 1024
    result["cpu"] = usage.ru_utime + usage.ru_stime  # steadier than wall time on a busy machine
    return result


def _files(data: str) -> list[str]:
    return sorted(glob.glob(os.path.join(data, "*.parquet")))


def _bare_query(data: str, limit: str) -> dict:
    """DuckDB's own duplicate-and-lost answer: ids received at more than one offset, and
    acknowledged (partition, id) pairs never received."""
    import shutil
    import tempfile

    import duckdb

    spill = tempfile.mkdtemp(prefix="bench-bare-")
    src = "read_parquet([" + ", ".join(f"'{f}'" for f in _files(data)) + "])"
    try:
        con = duckdb.connect(config={"memory_limit": limit, "temp_directory": spill})
        dup, lost = con.sql(f"""
            WITH r AS (SELECT partition, value, "offset" FROM {src}
                       WHERE f = 'poll' AND type = 'ok'),
            s AS (SELECT DISTINCT partition, value FROM {src} WHERE f = 'send' AND type = 'ok')
            SELECT
              (SELECT sum(n - 1) FROM (SELECT count(DISTINCT "offset") AS n FROM r
                                       GROUP BY partition, value HAVING n > 1)),
              (SELECT count(*) FROM s ANTI JOIN r USING (partition, value))
        """).fetchall()[0]  # fmt: skip
        con.close()
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    return {"counts": {"duplicate": int(dup or 0), "lost": int(lost)}}


def _check(name: str, data: str, limit: str) -> dict:
    if name == "before":  # the in-memory path before issue 21: every row into pandas, then check
        import pandas as pd

        from chronik_lab.checker.verdict import check_table

        report = check_table(pd.read_parquet(_files(data)))
    else:
        from chronik_lab.checker.dispatch import run_check

        engine = {"after": "auto", "duckdb": "duckdb"}[name]
        report = run_check(data, engine, None if name == "after" else limit).report
    counts = dict(report.counts)
    counts["lost"] = counts["lost-write"] + counts["unseen"]
    return {"counts": counts, "stats": report.stats}


def measure(name: str, data: str, limit: str) -> dict:
    """One side in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    cmd = [sys.executable, str(Path(__file__)), name, data, limit]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(label: str, ours: dict, base: dict, target: str, ok: bool) -> str:
    ratio = ours["seconds"] / base["seconds"]
    return (
        f"{label:<11} {ours['seconds']:8.1f} s {ours['rss_mb']:8,.0f} MB   "
        f"{base['seconds']:8.1f} s {base['rss_mb']:8,.0f} MB   {ratio:5.2f}x  {target:<22} "
        f"{'PASS' if ok else 'MISS'}\n{'':<11} CPU {ours['cpu']:6.1f} s {'':<14}"
        f"CPU {base['cpu']:6.1f} s {'':<14}{ours['cpu'] / base['cpu']:5.2f}x (CPU time)"
    )


def _header(data: str) -> None:
    rows = json.loads((Path(data) / "expected.json").read_text())
    size = sum(os.path.getsize(f) for f in _files(data)) / 2**30
    print(f"history {data}: {rows['rows']:,} rows, {size:.2f} GiB of Parquet; planted "
          f"duplicate {rows['duplicate']:,}, lost-write {rows['lost-write']:,}")  # fmt: skip
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'figure':<11} {'new':>10} {'peak RSS':>11}   {'baseline':>10} {'peak RSS':>11}"
          "   ratio")  # fmt: skip


def _expected_ok(data: str, got: dict) -> bool:
    want = json.loads((Path(data) / "expected.json").read_text())
    return got["duplicate"] == want["duplicate"] and got["lost"] == want["lost-write"]


def run_figure(figure: str, data: str, limit: str) -> int:
    _header(data)
    if figure == "paths":
        base, ours = measure("before", data, limit), measure("after", data, limit)
        print(
            _row(
                "20M paths",
                ours,
                base,
                "time and RSS <= before",
                ours["seconds"] <= base["seconds"] and ours["rss_mb"] <= base["rss_mb"],
            )
        )
        same = ours["counts"] == base["counts"] and ours["stats"] == base["stats"]
    elif figure == "outofcore":
        base, ours = measure("bare", data, limit), measure("duckdb", data, limit)
        ok = ours["rss_mb"] <= RSS_TARGET_MB and ours["seconds"] <= TIME_TARGET * base["seconds"]
        print(_row("outofcore", ours, base, "<= 1.5x, RSS <= 3 GB", ok))
        same = {k: ours["counts"][k] for k in ("duplicate", "lost")} == base["counts"]
    else:
        return _dask_figure(data)
    print(f"counts {ours['counts']}")
    right = _expected_ok(data, ours["counts"])
    print(f"same answer as the baseline: {same}; planted counts found: {right}")
    return 0 if same and right else 1


def _dask_figure(data: str) -> int:
    """The in-memory report vs LocalClusters of 1 and 2 workers, field by field."""
    import pandas as pd
    from distributed import Client, LocalCluster

    from chronik_lab.checker.dispatch import run_check

    start = time.perf_counter()
    memory = run_check(data, "memory").report
    times = {"memory": time.perf_counter() - start}
    same = True
    for workers in (1, 2):
        with (
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         dashboard_address=None, memory_limit="6GiB") as cluster,
            Client(cluster) as client,
        ):  # fmt: skip
            start = time.perf_counter()
            report = run_check(data, "dask", "3GiB", client).report
            times[f"dask {workers}"] = time.perf_counter() - start
        try:
            assert report.counts == memory.counts and report.stats == memory.stats
            assert report.rows == memory.rows
            pd.testing.assert_frame_equal(report.anomalies, memory.anomalies)
            pd.testing.assert_frame_equal(report.pattern, memory.pattern)
        except AssertionError as exc:
            print(f"dask {workers}: a different report: {exc}")
            same = False
    for name, seconds in times.items():
        print(f"{name:<11} {seconds:8.1f} s   ({seconds / times['memory']:.2f}x memory)")
    print(f"1 -> 2 workers: {times['dask 1'] / times['dask 2']:.2f}x faster; "
          f"same report as memory: {same}")  # fmt: skip
    return 0 if same else 1


if __name__ == "__main__":
    print(json.dumps(side(sys.argv[1], sys.argv[2], sys.argv[3])))
