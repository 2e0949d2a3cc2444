"""index.html: a view of summary.json (`ReportResult.to_dict()`), nothing more.

Top to bottom: the outcome, one sentence per broker version the report ran ("v0.7.5: 10 sent,
20 received: 10 duplicated.": checker/counts.py's `outcome_sentence`); the findings, one row per
distinct result (notebooks that ran the same workload share a row; a before/after comparison
shows every version it compared; an observation's numbers are labelled as observed, not as a
run's); and the notebooks, each with whether it ran, kept apart from what it found.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chronik_lab.checker.counts import outcome_sentence, outcome_word

__all__ = ["render_index"]

_SAID = ("received", "duplicates", "lost")  # the outcome counts the index says in words

_INDEX_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 78em; color: #222; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: .4em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; font-weight: 600; } .failed { color: #cf222e; font-weight: 600; }
.error { color: #cf222e; font-size: 90%; }
.outcome-duplicates, .outcome-loss, .outcome-duplicates-loss { color: #cf222e; font-weight: 600; }
.outcome-exact { color: #1a7f37; font-weight: 600; }
.tag { font-size: 80%; background: #fff3cd; padding: 0 .3em; border-radius: 3px; }
#outcomes { font-size: 110%; } #outcomes li { margin: .2em 0; }
.by { font-size: 90%; margin-top: .2em; } tr.note td { color: #555; font-size: 90%; }
tr.earlier td { color: #777; }
tr.finding + tr.finding td { border-top: none; } td.pattern { overflow-wrap: anywhere; }
code { background: #f4f4f4; padding: 0 .2em; }
"""


@dataclass
class _Finding:
    """One row of the findings table: what it is, the notebooks that found it, and one line
    per version (a before/after row has several)."""

    what: str
    lines: list[dict[str, Any]]
    notebooks: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    observed: bool = False

    def key(self) -> str:
        return json.dumps([self.what, self.lines, self.note, self.observed], default=str)


def render_index(data: Mapping[str, Any]) -> str:
    """index.html from a report's summary.json data."""
    notebooks = list(data.get("notebooks", []))
    findings = _merge([f for nb in notebooks for f in _findings(nb)])
    failed = [nb for nb in notebooks if nb.get("status") != "ok"]
    ran = _ran(len(notebooks), len(failed), data.get("available"))
    given = data.get("parameters") or {}
    params = ", ".join(f"<code>{_e(f'{k}={v!r}')}</code>" for k, v in given.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>chronik_lab report</title>
<style>{_INDEX_CSS}</style></head>
<body>
<h1>chronik_lab report</h1>
<ul id="outcomes">
{_outcomes(findings)}
</ul>
<p>Parameters: {params or "the notebooks' defaults (the seed)"}.
<span class="{"ok" if not failed else "failed"}">{ran}</span>
({float(data.get("duration_s") or 0):.1f} s).</p>
<h2>Findings</h2>
<table id="summary">
<thead><tr><th>finding (notebooks)</th><th>version</th><th>outcome</th><th>sent</th>
<th>received</th><th>anomalies</th><th>pattern</th></tr></thead>
<tbody>
{chr(10).join(_finding_rows(f) for f in findings)}
</tbody></table>
<h2>Notebooks</h2>
<table id="notebooks">
<thead><tr><th>notebook</th><th>ran</th><th>duration</th></tr></thead>
<tbody>
{chr(10).join(_notebook_row(nb) for nb in notebooks)}
{chr(10).join(_earlier_row(name) for name in data.get("earlier_pages") or [])}
</tbody></table>
<p>Each notebook's summary is in <a href="summary.json">summary.json</a>; the executed notebooks
are in <a href="notebooks/">notebooks/</a>.</p>
</body></html>
"""


# --- from summaries to findings --------------------------------------------------------------


def _findings(nb: Mapping[str, Any]) -> list[_Finding]:
    s = nb.get("summary")
    if not isinstance(s, Mapping):
        return []
    params = s.get("parameters") if isinstance(s.get("parameters"), Mapping) else {}
    version = str(params.get("bugs", s.get("bugs", "")))
    out: list[_Finding] = []
    if isinstance(s.get("versions"), Mapping):  # a before/after comparison
        lines = [_line(str(v), d) for v, d in s["versions"].items() if isinstance(d, Mapping)]
        out.append(_Finding("before/after: " + _workload(params), lines))
    elif "observed_path" in params:  # an explanation: its numbers are the observation's
        name = str(params["observed_path"]).rsplit("/", 1)[-1]
        out.append(_Finding(f"observation {name}", [_line("observed", s)], observed=True))
        out[-1].note = _explain_note(s, version)
        if isinstance(s.get("run"), Mapping):
            out.append(_Finding("run: " + _workload(params), [_line(version, s["run"])]))
    elif isinstance(s.get("delivery"), Mapping):  # 09: one broker version, several deliveries
        # each line is named by its fault and client setting, never by the broker version
        # alone: "fixed: 4 duplicated" would blame the broker for a lost acknowledgement
        lines = [
            _line(f"{version}, {str(label).split(': ')[0]}", d)
            for label, d in s["delivery"].items()
            if isinstance(d, Mapping)
        ]
        out.append(_Finding("delivery: " + _workload(params), lines))
    elif "sent" in s or "received" in s:  # a run's figures (a sweep's page has none)
        out.append(_Finding("run: " + _workload(params), [_line(version, s)]))
    if isinstance(s.get("sweep"), Mapping):
        out.append(_Finding("sweep", [], note=_sweep_note(s["sweep"])))
    for finding in out:
        finding.notebooks.append(nb)
    return out


def _line(version: str, digest: Mapping[str, Any]) -> dict[str, Any]:
    """One version's figures: sent, received, the outcome, anomalies and pattern."""
    counts = digest.get("counts") if isinstance(digest.get("counts"), Mapping) else None
    outcome = digest.get("outcome")
    if not isinstance(outcome, Mapping) and counts is not None:  # a summary without outcome
        outcome = {
            "received": digest.get("received"),
            "duplicates": counts.get("duplicate", 0),
            "lost": counts.get("lost", counts.get("lost-write", 0)),
        }
    return {
        "version": version,
        "sent": digest.get("sent"),
        "received": _count(digest.get("received")),
        "outcome": _counted(outcome, digest.get("sent")),
        "anomalies": _anomalies(counts),
        "pattern": _cut(str(digest.get("pattern", digest.get("pattern_text", "")) or "")),
    }


def _counted(outcome: Any, sent: Any) -> dict[str, int] | None:
    """The outcome's counts as ints (outcome_word and outcome_sentence say them), or None when
    the summary does not give sent, received, duplicates and lost as numbers."""
    if not isinstance(outcome, Mapping):
        return None
    counts = {k: _count(v) for k, v in outcome.items()}
    if not all(_is_int(v) for v in (sent, *(counts.get(k) for k in _SAID))):
        return None
    return {k: int(v) for k, v in counts.items() if _is_int(v)}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _cut(pattern: str, keep: int = 6) -> str:
    """A pattern of thousands of spans (one request per message at 10⁵ messages) as its first
    spans and a count; the whole one is in summary.json and on the notebook's page."""
    spans = pattern.split(", ")
    if len(spans) <= keep + 1:
        return pattern
    return f"{', '.join(spans[:keep])}, … {len(spans) - keep:,} more"


def _merge(findings: list[_Finding]) -> list[_Finding]:
    """Rows with the same result become one row listing every notebook that found it."""
    merged: dict[str, _Finding] = {}
    for f in findings:
        if f.key() in merged:
            merged[f.key()].notebooks.extend(f.notebooks)
        else:
            merged[f.key()] = f
    return list(merged.values())


def _workload(params: Mapping[str, Any]) -> str:
    if not params:
        return "the notebook's workload"
    parts = []
    if "messages" in params and "faults" in params:  # 08_faults: the client batches itself
        faults = ", ".join(map(str, params["faults"] or [])) or "no fault"
        parts.append(f"{_n(params['messages'])} messages through faults: {faults}")
    elif "messages" in params:
        sizes = params.get("batch_sizes")
        if sizes is None:
            split = "one per request"
        else:  # a list, or a long split's label: "(4+6)×10,000"
            split = "in requests of " + (
                sizes if isinstance(sizes, str) else "+".join(map(str, sizes))
            )
        parts.append(f"{_n(params['messages'])} messages {split}")
    if "acks" in params:
        parts.append(f"acks={params['acks']}")
    if "flush_batches" in params:
        parts.append(f"flush every {params['flush_batches']} batches")
    return ", ".join(parts) or "the notebook's workload"


def _explain_note(s: Mapping[str, Any], version: str) -> str:
    """What an explanation's row is: an observation under its own workload (the recorded one,
    or the parameters' for a user's dump), not a run of this report; its minimal causes; what
    the version under investigation (`bugs`) gives on that workload and its single fixes."""
    recorded = s.get("recorded_on")
    who = f"a consumer of chronik {recorded}" if recorded else "a consumer"
    text = f"what {who} received, not a run of this report"
    workload = s.get("workload")
    if isinstance(workload, Mapping):
        whose = "as recorded" if recorded else "as the parameters describe it"
        text += f"; its own workload ({whose}): {_workload(workload)}"
    not_applied = s.get("not_applied")
    if isinstance(not_applied, Mapping) and not_applied:
        given = ", ".join(f"{k}={v}" for k, v in not_applied.items())
        text += (
            f" ({given} does not apply)" if len(not_applied) == 1 else f" ({given} do not apply)"
        )
    minimal = s.get("minimal") or []
    causes = "; ".join("+".join(m) for m in minimal) or "none found"
    text += f"; minimal causes: {causes}"
    investigated = s.get("investigated")
    if isinstance(investigated, Mapping):
        counts = _counted(investigated, s.get("sent"))
        said = "—" if counts is None else outcome_sentence(int(s["sent"]), counts)
        match = "the observation" if investigated.get("exact") else "not the observation"
        text += f"; {version} on that workload: {said} ({match})"
    # the single fixes for what the version does on that workload (both when unknown)
    known = isinstance(investigated, Mapping)
    removed = [
        (what, s.get(key) or [])
        for what, key, count in (
            ("duplication", "fixes_removing_duplication", "duplicates"),
            ("loss", "fixes_removing_loss", "lost"),
        )
        if (investigated.get(count) if known else key in s)
    ]
    for what, fixes in removed:
        text += f"; single fixes (from {version}) that remove the {what}: "
        text += ", ".join(fixes) or "none"
    return text


def _sweep_note(sweep: Mapping[str, Any]) -> str:
    parts = []
    for preset, d in sweep.items():
        if not isinstance(d, Mapping):
            continue
        text = (
            f"{preset}: worst duplication {_pct(d.get('max_duplication_rate'))}, "
            f"worst loss {_pct(d.get('max_loss_rate'))}"
        )
        cell = d.get("cell")
        if isinstance(cell, Mapping):
            text += (
                f" (this workload, {cell.get('batch_split')} flushing every "
                f"{cell.get('flush_batches')}: {_pct(cell.get('duplication_rate'))} duplicated, "
                f"{_pct(cell.get('loss_rate'))} lost)"
            )
        parts.append(text)
    return "; ".join(parts)


# --- HTML -------------------------------------------------------------------------------------


def _outcomes(findings: list[_Finding]) -> str:
    """One sentence per version, from the runs (never from an observation)."""
    seen: dict[str, str] = {}
    for f in findings:
        if f.observed:
            continue
        for line in f.lines:
            if line["outcome"] and line["version"] not in seen:
                said = outcome_sentence(line["sent"], line["outcome"])
                seen[line["version"]] = f"{line['version'] or 'run'}: {said}."
    if not seen:
        return "<li>No notebook reported a run.</li>"
    return "\n".join(f"<li>{_e(sentence)}</li>" for sentence in seen.values())


def _finding_rows(f: _Finding) -> str:
    """A finding: one row per version (the first names the finding and its notebooks, across
    all of them), and its note on a full-width row below."""
    links = ", ".join(
        f'<a href="{_e(nb.get("html", ""))}">{_e(nb["name"])}</a>' for nb in f.notebooks
    )
    head = f'<td rowspan="{max(1, len(f.lines))}">{_e(f.what)}<div class="by">{links}</div></td>'
    tag = ' <span class="tag">observed</span>' if f.observed else ""
    rows = []
    for i, line in enumerate(f.lines or [None]):
        cells = [head] if i == 0 else []
        if line is None:
            cells.append('<td colspan="6"></td>')
        else:
            cells += [
                f"<td>{_e(line['version'])}</td>",
                _outcome_cell(line["outcome"]),
                f'<td class="num">{_e(_n(line["sent"]))}{tag}</td>',
                f'<td class="num">{_e(_n(line["received"]))}{tag}</td>',
                f"<td>{_e(line['anomalies'])}</td>",
                f'<td class="pattern">{_e(line["pattern"])}</td>',
            ]
        rows.append(f'<tr class="finding">{"".join(cells)}</tr>')
    if f.note:
        rows.append(f'<tr class="note"><td></td><td colspan="6">{_e(f.note)}</td></tr>')
    return "\n".join(rows)


def _outcome_cell(outcome: Mapping[str, int] | None) -> str:
    if outcome is None:
        return "<td>—</td>"
    word = outcome_word(outcome)
    return f'<td class="outcome-{word.replace(" and ", "-")}">{_e(word)}</td>'


def _notebook_row(nb: Mapping[str, Any]) -> str:
    status = "ok" if nb.get("status") == "ok" else "failed"
    error = f'<div class="error">{_e(nb["error"])}</div>' if nb.get("error") else ""
    return (
        f'<tr><td><a href="{_e(nb.get("html", ""))}">{_e(nb["name"])}</a></td>'
        f'<td><span class="{status}">{status}</span>{error}</td>'
        f'<td class="num">{float(nb.get("duration_s") or 0):.1f} s</td></tr>'
    )


def _ran(n: int, failed: int, available: Any) -> str:
    """'all 8 notebooks ran', '1 of the 8 notebooks ran', '1 of 2 notebooks failed'."""
    total = available if isinstance(available, int) and available >= n else n
    if failed:
        return f"{failed:,} of {_plural(n, 'notebook')} failed"
    if n == total:
        return "the notebook ran" if n == 1 else f"all {n:,} notebooks ran"
    return f"{n:,} of the {_plural(total, 'notebook')} ran (the others were not asked for)"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word if n == 1 else word + 's'}"


def _earlier_row(name: str) -> str:
    """A page an earlier run left in the folder: listed, marked, and in no finding."""
    return (
        f'<tr class="earlier"><td><a href="{_e(name)}.html">{_e(name)}</a></td>'
        '<td><span class="tag">from an earlier run, not this one</span></td><td></td></tr>'
    )


def _count(value: Any) -> Any:
    return len(value) if isinstance(value, list | tuple) else value  # a list of received ids


def _anomalies(counts: Mapping[str, Any] | None) -> str:
    if counts is None:
        return "—"
    found = {k: v for k, v in counts.items() if v}
    return ", ".join(f"{k} {_n(v)}" for k, v in found.items()) if found else "none"


def _n(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _pct(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else "—"


def _e(text: Any) -> str:
    return html.escape(str(text))
