"""Run the notebooks through papermill into an offline HTML report.

`build_report(out_dir)` executes each `notebooks/*.ipynb` (in name order, or the ones named)
into `out_dir/notebooks/`, converts each executed copy to a standalone `out_dir/<name>.html`
(see pages.py), and writes `out_dir/summary.json` and `out_dir/index.html`, a view of it.

Invariants of a report folder:
- the parameters are checked for every notebook before any kernel starts (preflight.py); a bad
  one fails the report at once, with one line per problem, and writes nothing;
- the pages load nothing from the network: charts are SVG images inside the page, and the
  nbconvert template's CDN scripts (require.js, MathJax, mermaid) are left out;
- a notebook that fails still gets its page (papermill saves the partial notebook with the
  error), is marked failed in the index, and makes the whole report fail (`ok` is False);
- each notebook receives only the parameters its `parameters` cell declares, so one `-p bugs ...`
  applies to every notebook that has a `bugs` parameter and is ignored by the others;
- Ctrl-C stops the report at once: the running kernels are killed, not waited for; the pages
  already written stay, and the index lists them (the others as interrupted);
- the index speaks of this run only: how many of the folder's notebooks it ran, and pages an
  earlier run left in the report folder listed apart, as from an earlier run (never counted or
  summarised with this run's).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from chronik_lab.errors import InvalidArgumentError, NotebookError, one_line
from chronik_lab.report.index import render_index
from chronik_lab.report.preflight import (
    SUMMARY_PARAMETER,
    check_parameters,
    declared_parameters,
    select_notebooks,
)

__all__ = [
    "NotebookResult",
    "ReportResult",
    "build_report",
    "declared_parameters",
    "default_notebooks_dir",
]

# papermill, nbconvert and jupyter_client take seconds to import (nbformat's JSON schema
# checks build a grammar): they load after the parameters are checked, so a bad parameter is
# reported in well under the 2 s budget.


@dataclass(frozen=True)
class NotebookResult:
    """One notebook's run: where its copies are, its summary, and whether it ran to the end."""

    name: str
    source: Path
    executed: Path
    html: Path
    summary_path: Path
    summary: dict[str, Any] | None
    ok: bool
    duration_s: float
    error: str | None = None

    def to_dict(self, out_dir: Path) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": "ok" if self.ok else "failed",
            "duration_s": round(self.duration_s, 2),
            "html": relative(self.html, out_dir),
            "notebook": relative(self.executed, out_dir),
            "summary": self.summary,
            "error": self.error,
        }


@dataclass(frozen=True)
class ReportResult:
    """A finished report folder. `ok` is False when any notebook failed. `available`: the
    notebooks of the source folder (this run ran `notebooks`, all or some of them);
    `earlier_pages`: pages in the folder that an earlier run wrote and this one did not."""

    out_dir: Path
    index: Path
    summary_json: Path
    notebooks: tuple[NotebookResult, ...]
    parameters: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    available: int = 0
    earlier_pages: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(nb.ok for nb in self.notebooks)

    @property
    def failed(self) -> list[NotebookResult]:
        return [nb for nb in self.notebooks if not nb.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "parameters": self.parameters,
            "duration_s": round(self.duration_s, 2),
            "notebooks": [nb.to_dict(self.out_dir) for nb in self.notebooks],
            "available": self.available or len(self.notebooks),
            "earlier_pages": list(self.earlier_pages),
        }


def relative(path: Path, root: Path) -> str:
    """`path` relative to `root` when inside it (links in the index), else as is."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def default_notebooks_dir() -> Path:
    """The repository's notebooks/: beside the package (a source checkout), else in the cwd."""
    for candidate in (Path(__file__).resolve().parents[2] / "notebooks", Path.cwd() / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise NotebookError(
        "no notebooks/ directory found beside the chronik_lab package or in the current "
        "directory; pass the notebooks directory explicitly (--notebooks DIR)"
    )


def find_notebooks(notebooks_dir: Path) -> list[Path]:
    """The notebooks of a directory in name order (01_..., 02_...), checkpoints left out."""
    if not notebooks_dir.is_dir():
        raise NotebookError(f"notebooks directory {notebooks_dir} does not exist")
    found = sorted(p for p in notebooks_dir.glob("*.ipynb") if not p.name.startswith("."))
    if not found:
        raise NotebookError(f"no notebooks (*.ipynb) in {notebooks_dir}")
    return found


def build_report(
    out_dir: str | Path,
    notebooks_dir: str | Path | None = None,
    parameters: Mapping[str, Any] | None = None,
    progress: bool = True,
    kernel: str = "python3",
    jobs: int | None = None,
    notebooks: Iterable[str] | None = None,
) -> ReportResult:
    """Execute the notebooks into `out_dir` and write their HTML pages, summary.json and
    index.html. `notebooks` names a subset ("01_reproduce"); default: all of them.

    Raises before running anything: NotebookError when the notebooks are missing or a
    parameter is declared by no notebook, `ParameterError` (one line per problem) when a value
    is bad for a notebook that declares it. `jobs` notebooks run at a time (default: 2, or 1
    on a single core).
    """
    started = time.perf_counter()
    source_dir = Path(notebooks_dir) if notebooks_dir is not None else default_notebooks_dir()
    found = find_notebooks(source_dir)
    chosen = select_notebooks(found, notebooks)
    params = dict(parameters or {})
    declared = {nb: declared_parameters(nb) for nb in chosen}
    check_parameters(params, declared)

    _check_kernel(kernel)
    workers = jobs if jobs is not None else min(2, os.cpu_count() or 1)
    if workers < 1:
        raise InvalidArgumentError(f"jobs must be >= 1, not {workers}")
    out = Path(out_dir).resolve()
    if out.is_relative_to(source_dir.resolve()):  # executed copies never go back to notebooks/
        raise NotebookError(f"the report folder {out} must not be inside {source_dir}")
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    done: dict[Path, NotebookResult] = {}
    try:
        _run_all(start_order(chosen), out, params, declared, kernel, workers, progress, done)
    except KeyboardInterrupt:  # the notebooks that finished keep their rows in the index
        _write(out, chosen, done, params, started, len(found))
        raise
    return _write(out, chosen, done, params, started, len(found))


def start_order(notebooks: list[Path]) -> list[Path]:
    """The order the notebooks start in: the heaviest first, by the `weight` each declares in
    its metadata (`"chronik_lab": {"weight": 8}`: its share of a big report's work; 1 when
    absent), then by name. Two run at a time, so a long notebook started last would end the
    report alone on one core (06_sweep at 100,000 messages). Pages and the index keep name
    order."""

    def weight(nb: Path) -> float:
        try:
            meta = json.loads(nb.read_text(encoding="utf-8")).get("metadata", {})
            value = meta.get("chronik_lab", {}).get("weight", 1)
        except (OSError, ValueError, AttributeError):
            return 1.0  # an unreadable notebook fails later, with its own message
        return float(value) if isinstance(value, int | float) else 1.0

    return sorted(notebooks, key=lambda nb: (-weight(nb), nb.name))


def _write(out, notebooks, done, params, started, available) -> ReportResult:
    """summary.json and index.html (its view); a notebook not finished is marked failed."""
    results = [done.get(nb) or _interrupted(nb, out) for nb in notebooks]
    ours = {nb.stem for nb in notebooks}
    earlier = sorted(p.stem for p in out.glob("*.html") if p.stem not in ours | {"index"})
    result = ReportResult(
        out_dir=out,
        index=out / "index.html",
        summary_json=out / "summary.json",
        notebooks=tuple(results),
        parameters=params,
        duration_s=time.perf_counter() - started,
        available=available,
        earlier_pages=tuple(earlier),
    )
    data = result.to_dict()
    result.summary_json.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    result.index.write_text(render_index(data), encoding="utf-8")
    return result


def _interrupted(notebook: Path, out: Path) -> NotebookResult:
    executed, html_path, summary_path = _paths(notebook, out)
    return NotebookResult(
        name=notebook.stem,
        source=notebook,
        executed=executed,
        html=html_path,
        summary_path=summary_path,
        summary=None,
        ok=False,
        duration_s=0.0,
        error="interrupted (Ctrl-C) before it finished",
    )


def _run_all(notebooks, out, params, declared, kernel, workers, progress, done) -> None:
    """Run the notebooks, `workers` at a time, into `done` (notebook -> result)."""
    from chronik_lab.report.kernels import Kernels
    from chronik_lab.report.pages import page_exporter

    exporter = page_exporter(hidden_parameters=(SUMMARY_PARAMETER,))
    bar = tqdm(
        total=len(notebooks), desc="notebooks", unit="nb", file=sys.stderr, disable=not progress
    )
    todo: queue.Queue[Path] = queue.Queue()
    for nb in notebooks:
        todo.put(nb)
    finished: queue.Queue[tuple[Path, tuple[float, str | None]]] = queue.Queue()

    stopped = threading.Event()
    kernels = Kernels()

    def work() -> None:
        try:
            while not stopped.is_set():
                try:
                    nb = todo.get_nowait()
                except queue.Empty:
                    return
                given = _given(params, declared[nb], out, nb)
                finished.put((nb, _execute(nb, out, given, kernel, kernels)))
        finally:
            _close_event_loop()

    # Threads are enough: each notebook runs in its own kernel process, and the thread only
    # waits on it. Two at a time overlap one kernel's start-up with another's work. Measured on
    # 2 cores: 6 stand-in notebooks in 13 s instead of 23 s; the 6 real ones in 22-24 s instead
    # of 25-26 s (with other work on the machine). More than 2 only adds contention. Daemon
    # threads, so that a Ctrl-C never waits for them (a ThreadPoolExecutor's are joined at exit).
    for i in range(min(workers, len(notebooks))):
        threading.Thread(target=work, name=f"notebook-{i}", daemon=True).start()
    try:
        while len(done) < len(notebooks):
            nb, (duration, error) = finished.get()
            # nbconvert's exporter is not documented as thread-safe: pages are written here.
            done[nb] = _finish(nb, out, declared[nb], exporter, duration, error)
            bar.set_postfix_str(nb.stem)
            bar.update()
    except BaseException:
        # Ctrl-C (or any error here): drop the notebooks not started and kill the running
        # kernels, with whatever they started; waiting would take the rest of the run. The
        # pages written stay.
        stopped.set()
        kernels.kill_all()
        raise
    finally:
        bar.close()


def _close_event_loop() -> None:
    """Close this thread's event loop, if it has one: papermill's nbclient makes one per thread
    (jupyter_core's ensure_event_loop) and never closes it, so a finished worker thread would
    leave it, with its two self-pipe sockets, to the garbage collector."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:  # none was made in this thread
        return
    asyncio.set_event_loop(None)
    loop.close()


def _check_kernel(kernel: str) -> None:
    """A missing kernel would fail every notebook one by one; say it once."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        known = ", ".join(sorted(KernelSpecManager().find_kernel_specs())) or "none"
        raise NotebookError(f"no Jupyter kernel named {kernel!r}; installed: {known}") from None


def _paths(notebook: Path, out: Path) -> tuple[Path, Path, Path]:
    """Where a notebook's executed copy, page and summary go."""
    stem = notebook.stem
    return (
        out / "notebooks" / notebook.name,
        out / f"{stem}.html",
        out / "notebooks" / f"{stem}.json",
    )


def _given(params: dict[str, Any], declared: dict[str, Any], out: Path, nb: Path) -> dict:
    """The parameters this notebook declares, plus where to write its summary."""
    given = {k: v for k, v in params.items() if k in declared}
    if SUMMARY_PARAMETER in declared:
        given[SUMMARY_PARAMETER] = str(_paths(nb, out)[2])
    return given


def _execute(notebook: Path, out: Path, given: dict[str, Any], kernel: str, kernels: Any):
    """Run one notebook with papermill in one of `kernels` (kernels.Kernels); return
    (seconds, one-line error or None)."""
    from chronik_lab.report.kernels import execute_notebook

    executed, _, summary_path = _paths(notebook, out)
    summary_path.unlink(missing_ok=True)  # a stale summary must not pass for this run's
    started = time.perf_counter()
    try:
        execute_notebook(notebook, executed, given, kernel, kernels)
    except Exception as exc:  # any failure of one notebook is reported, and the others still run
        return time.perf_counter() - started, _failure(exc)
    return time.perf_counter() - started, None


def _finish(
    notebook: Path,
    out: Path,
    declared: dict[str, Any],
    exporter: Any,
    duration: float,
    error: str | None,
) -> NotebookResult:
    executed, html_path, summary_path = _paths(notebook, out)
    error = _export_html(exporter, executed, html_path, error)
    summary, error = _read_summary(summary_path, declared, error)
    return NotebookResult(
        name=notebook.stem,
        source=notebook,
        executed=executed,
        html=html_path,
        summary_path=summary_path,
        summary=summary,
        ok=error is None,
        duration_s=duration,
        error=error,
    )


def _export_html(exporter: Any, executed: Path, html_path: Path, error: str | None):
    """Write the page of an executed (or partially executed) notebook; return the run's error."""
    from chronik_lab.report.pages import error_page, export_page

    if not executed.exists():  # papermill failed before writing anything (e.g. no kernel)
        html_path.write_text(error_page(executed.stem, error or "not executed"), encoding="utf-8")
        return error or "the executed notebook was not written"
    try:
        export_page(exporter, executed, html_path)
    except Exception as exc:  # a page we cannot render is a failed notebook, not a crash
        html_path.write_text(error_page(executed.stem, _failure(exc)), encoding="utf-8")
        return error or f"HTML export failed: {_failure(exc)}"
    return error


def _read_summary(path: Path, declared: dict[str, Any], error: str | None):
    if not path.exists():
        missing = SUMMARY_PARAMETER in declared and error is None
        return None, ("the notebook wrote no summary" if missing else error)
    try:
        return json.loads(path.read_text(encoding="utf-8")), error
    except (OSError, ValueError) as exc:
        return None, error or f"unreadable summary {path.name}: {exc}"


def _failure(exc: BaseException) -> str:
    """`Name: message` on one line. papermill's execution error carries the notebook's own
    exception name and value: those are the ones shown."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    return one_line(f"{ename}: {evalue}") if ename else one_line(exc, named=True)
