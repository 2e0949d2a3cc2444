"""The report's own pages: index.html (one row per notebook, from its JSON summary) and the
page that stands in for a notebook that could not be converted."""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # report.py imports this module
    from chronik_lab.report.build import NotebookResult, ReportResult

__all__ = ["error_page", "relative", "render_index"]


def relative(path: Path, root: Path) -> str:
    """`path` relative to `root` when inside it (links in the index), else as is."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def error_page(name: str, error: str) -> str:
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(name)}"
        f"</title></head><body><h1>{html.escape(name)}: failed</h1>"
        f"<pre>{html.escape(error)}</pre></body></html>"
    )


_INDEX_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .4em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; font-weight: 600; } .failed { color: #cf222e; font-weight: 600; }
.error { color: #cf222e; font-size: 90%; }
code { background: #f4f4f4; padding: 0 .2em; }
"""


def render_index(result: ReportResult) -> str:
    """index.html: one row per notebook, linking its page, with its summary's figures."""
    rows = "\n".join(_index_row(nb, result.out_dir) for nb in result.notebooks)
    params = ", ".join(
        f"<code>{html.escape(f'{k}={v!r}')}</code>" for k, v in result.parameters.items()
    )
    verdict = "all notebooks ran" if result.ok else f"{len(result.failed)} notebook(s) failed"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>chronik_lab report</title>
<style>{_INDEX_CSS}</style></head>
<body>
<h1>chronik_lab report</h1>
<p class="{"ok" if result.ok else "failed"}">{verdict} ({result.duration_s:.1f} s)</p>
<p>Parameters: {params or "the notebooks' defaults (the seed)"}</p>
<table id="summary">
<thead><tr><th>notebook</th><th>status</th><th>duration</th><th>sent</th><th>received</th>
<th>anomalies</th><th>pattern</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<p>Each notebook's summary is in <a href="summary.json">summary.json</a>; the executed notebooks
are in <a href="notebooks/">notebooks/</a>.</p>
</body></html>
"""


def _index_row(nb: NotebookResult, out_dir: Path) -> str:
    s = nb.summary or {}
    status = "ok" if nb.ok else "failed"
    error = f'<div class="error">{html.escape(nb.error)}</div>' if nb.error else ""
    cells = [
        f'<a href="{html.escape(relative(nb.html, out_dir))}">{html.escape(nb.name)}</a>',
        f'<span class="{status}">{status}</span>{error}',
        f"{nb.duration_s:.1f} s",
        html.escape(_figure(s.get("sent"))),
        html.escape(_figure(s.get("received"))),
        html.escape(_anomalies(s.get("counts"))),
        html.escape(str(s.get("pattern", s.get("pattern_text", "")) or "")),
    ]
    classes = ["", "", "num", "num", "num", "", ""]
    tds = "".join(
        f'<td class="{c}">{v}</td>' if c else f"<td>{v}</td>"
        for c, v in zip(classes, cells, strict=True)
    )
    return f"<tr>{tds}</tr>"


def _figure(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | tuple):  # e.g. a sequence of received ids: show its length
        return str(len(value))
    return str(value)


def _anomalies(counts: Any) -> str:
    if not isinstance(counts, Mapping):
        return "—"
    found = {k: v for k, v in counts.items() if v}
    return ", ".join(f"{k} {v}" for k, v in found.items()) if found else "none"
