"""The HTML page of one executed notebook: offline, without the cells a reader does not need,
and with alt text on every chart.

- Offline: the lab template without its network-loaded scripts (require.js only serves
  JavaScript outputs and MathJax only TeX in markdown; the charts here are SVG images).
- A cell tagged `remove-cell` (each notebook's summary cell, a raw dict for the report that
  the index already shows, and its heading) is left out of the page and kept in the executed
  notebook.
- Papermill's injected-parameters cell is shown without `summary_path`, an absolute path on the
  machine that built the report; a cell left empty by that is dropped.
- Each chart's `<img>` gets alt text from the chart's own title (Vega writes it into the SVG),
  instead of nbconvert's "No description has been provided for this image".
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from jinja2 import DictLoader
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor

__all__ = ["REMOVE_TAG", "chart_alt", "error_page", "export_page", "page_exporter"]

REMOVE_TAG = "remove-cell"
INJECTED_TAG = "injected-parameters"

_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block data_svg scoped -%}
<div class="jp-RenderedSVG jp-OutputArea-output {{ extra_class }}" data-mime-type="image/svg+xml">
<img src="data:image/svg+xml;base64,{{ output.data['image/svg+xml'] | text_base64 | escape_html }}"
 alt="{{ output.metadata.get('chronik_alt', 'chart') | escape_html }}">
</div>
{%- endblock data_svg %}
"""

# Vega's SVG renderer puts a chart's title (and each panel's) in text marks of role title.
_TITLE_GROUP = re.compile(r'<g class="mark-text role-title-text"[^>]*>(.*?)</g>', re.S)
_AXIS_TITLE_GROUP = re.compile(r'<g class="mark-text role-axis-title"[^>]*>(.*?)</g>', re.S)
_TEXT = re.compile(r"<text\b[^>]*>(.*?)</text>", re.S)
_TAG = re.compile(r"<[^>]+>")
_ALT_LIMIT = 400


def chart_alt(svg: str) -> str:
    """A chart's alt text: its titles ("Received vs sent (v0.7.5): 10 sent, ..."), else its
    axis titles ("chart of copies by message"), else "chart"."""
    titles = _texts(_TITLE_GROUP, svg)
    if titles:
        text = "Chart: " + "; ".join(titles)
    else:
        axes = _texts(_AXIS_TITLE_GROUP, svg)
        text = f"Chart of {' by '.join(reversed(axes[:2]))}" if axes else "chart"
    return text if len(text) <= _ALT_LIMIT else text[: _ALT_LIMIT - 1] + "…"


def _texts(group: re.Pattern[str], svg: str) -> list[str]:
    out: list[str] = []
    for match in group.finditer(svg):
        # a multi-line title is one <text> of <tspan>s: the tags become the spaces
        words = " ".join(_TAG.sub(" ", t) for t in _TEXT.findall(match.group(1)))
        text = " ".join(html.unescape(words).split())
        if text and text not in out:
            out.append(text)
    return out


class _ChartAlt(Preprocessor):
    """Puts each SVG output's alt text into its metadata, where the template reads it."""

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> tuple[Any, Any]:
        for output in cell.get("outputs", []):
            svg = output.get("data", {}).get("image/svg+xml")
            if svg:
                output.setdefault("metadata", {})["chronik_alt"] = chart_alt(svg)
        return cell, resources


class _HideLocalPaths(Preprocessor):
    """Drops the injected `<name> = "..."` lines of the parameters a page must not show."""

    hidden: tuple[str, ...] = ()

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        kept = []
        for cell in nb.cells:
            if INJECTED_TAG in cell.get("metadata", {}).get("tags", []):
                lines = [ln for ln in cell.source.splitlines() if not self._hides(ln)]
                cell.source = "\n".join(lines)
                if not [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]:
                    continue  # nothing left but the "# Parameters" comment
            kept.append(cell)
        nb.cells = kept
        return nb, resources

    def _hides(self, line: str) -> bool:
        return any(re.match(rf"\s*{re.escape(name)}\s*=", line) for name in self.hidden)


def page_exporter(hidden_parameters: tuple[str, ...] = ()) -> HTMLExporter:
    """The exporter of every page of a report (one per report; not shared between threads)."""
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"chronik_offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="chronik_offline.html.j2",
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={REMOVE_TAG}, enabled=True), enabled=True
    )
    hide = _HideLocalPaths(enabled=True)
    hide.hidden = hidden_parameters
    exporter.register_preprocessor(hide, enabled=True)
    exporter.register_preprocessor(_ChartAlt(enabled=True), enabled=True)
    return exporter


def export_page(exporter: HTMLExporter, executed: Path, html_path: Path) -> None:
    """Write the page of an executed (or partially executed) notebook."""
    body, _ = exporter.from_filename(str(executed))
    html_path.write_text(body, encoding="utf-8")


def error_page(name: str, error: str) -> str:
    """The page that stands in for a notebook that could not be run or converted."""
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(name)}"
        f"</title></head><body><h1>{html.escape(name)}: failed</h1>"
        f"<pre>{html.escape(error)}</pre></body></html>"
    )
