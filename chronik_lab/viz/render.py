"""One switch for how charts render: live and interactive in JupyterLab, static in the report.

`use_renderer("auto")` is the one line a notebook calls (instead of choosing by hand):

- in a live JupyterLab kernel it enables altair's `jupyter` renderer with `offline=True`: each
  chart becomes a JupyterChart widget (anywidget) whose JavaScript -- vega, vega-lite and
  vega-embed -- is bundled by vl-convert and sent to the browser over the kernel's own
  connection, so tooltips, zoom and selections work with no network at all;
- under papermill (the report) it keeps the report's choice, static SVG by default.

Why not the other altair renderers: the default `html` renderer loads vega from a CDN (a blank
chart offline), JupyterLab 4.6's built-in `mimetype` renderer knows Vega-Lite v3-v5 only
(altair 6 emits v6: nothing is drawn), and papermill/nbconvert cannot show either.

How "auto" decides, first match wins (`detect()` returns the mode without enabling it):

1. the environment variable CHRONIK_LAB_RENDERER (`interactive`, `svg` or `html`): a report
   build or a user forces a mode;
2. papermill's own marker: papermill injects a cell whose first line is `# Parameters` (tagged
   `injected-parameters`) when it passes parameters, and the kernel's input history shows it;
3. the kernel was started by a Jupyter server (JupyterLab, Notebook 7): jupyter_server gives
   every kernel it starts for a session the environment variable JPY_SESSION_NAME (the
   notebook's path). papermill, nbclient and plain scripts start kernels without it;
4. otherwise: the report's mode, `svg`.

The explicit modes: `interactive` (JupyterChart, above), `svg` (vl-convert SVG, as
`charts.use_offline_renderer()` did) and `html` (interactive HTML with vega-embed's bundle
inlined once per page: tooltips and zoom in a saved page with no network, about 0.9 MB added to
the page; a chart output after the first relies on the first one's script, so it is meant for
papermill runs where every output of a page comes from one kernel, in order).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from typing import Any

import altair as alt

from chronik_lab.errors import InvalidArgumentError

__all__ = [
    "EMBED_OPTIONS",
    "ENV_VAR",
    "MODES",
    "active_mode",
    "detect",
    "use_renderer",
    "vega_bundle",
]

ENV_VAR = "CHRONIK_LAB_RENDERER"
MODES = ("auto", "interactive", "svg", "html")
REPORT_MODE = "svg"  # the report's choice under papermill (see the module docstring)
_PAPERMILL_MARK = "# Parameters"
# SVG marks (countable in the page, crisp when zoomed); no action menu: its links lead off-line.
EMBED_OPTIONS = {"renderer": "svg", "actions": False}
_HTML_RENDERER = "chronik_inline_html"

_state: dict[str, Any] = {"mode": None, "bundle_sent": False}
_ids = itertools.count()


def use_renderer(mode: str = "auto") -> str:
    """Enable the renderer for `mode` (see the module docstring); return the mode enabled."""
    if mode not in MODES:
        raise InvalidArgumentError(f"renderer mode must be one of {', '.join(MODES)}: {mode!r}")
    chosen = detect() if mode == "auto" else mode
    if chosen == "interactive":
        # offline=True: vl-convert bundles the JavaScript (about 1.5 s once per kernel).
        alt.renderers.enable("jupyter", offline=True, embed_options=EMBED_OPTIONS)
    elif chosen == "svg":
        alt.renderers.enable("svg")
    else:
        _register_html()
        _state["bundle_sent"] = False  # a new page: the next chart carries the bundle again
        alt.renderers.enable(_HTML_RENDERER)
    _state["mode"] = chosen
    return chosen


def active_mode() -> str | None:
    """The mode `use_renderer` last enabled in this process (None before the first call)."""
    return _state["mode"]


def detect(
    environ: dict[str, str] | None = None,
    history: list[str] | None = None,
    in_kernel: bool | None = None,
) -> str:
    """The mode "auto" picks here: `interactive` in a live Jupyter server kernel, else the
    report's. `environ`, `history` (the kernel's input cells) and `in_kernel` (running inside an
    IPython kernel) default to this process's own."""
    env = os.environ if environ is None else environ
    forced = env.get(ENV_VAR, "").strip().lower()
    if forced:
        if forced not in MODES[1:]:
            raise InvalidArgumentError(
                f"{ENV_VAR} must be one of {', '.join(MODES[1:])}, not {forced!r}"
            )
        return forced
    cells = _kernel_history() if history is None else history
    if any(cell.lstrip().startswith(_PAPERMILL_MARK) for cell in cells):
        return REPORT_MODE
    kernel = _in_kernel() if in_kernel is None else in_kernel
    if env.get("JPY_SESSION_NAME") and kernel:
        return "interactive"
    return REPORT_MODE


def _in_kernel() -> bool:
    """True inside an IPython kernel (not a plain interpreter or a terminal IPython)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _kernel_history() -> list[str]:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    cells = shell.user_ns.get("In", []) if shell is not None else []
    return [c for c in cells if isinstance(c, str)]


# -- html: vega-embed inlined once per page -------------------------------------------------


def _register_html() -> None:
    if _HTML_RENDERER not in alt.renderers.names():
        alt.renderers.register(_HTML_RENDERER, _html_renderer)


def _html_renderer(spec: dict, **metadata: Any) -> dict[str, str]:
    """A text/html bundle: a div and a script calling vegaEmbed; the first chart of a page also
    carries vega + vega-lite + vega-embed (vl-convert's bundle, no CDN)."""
    div = f"chronik-chart-{os.getpid()}-{next(_ids)}"
    bundle = ""
    if not _state["bundle_sent"]:
        bundle = f"<script>{vega_bundle()}</script>\n"
        _state["bundle_sent"] = True
    # "</" must not close the script tag early inside the JSON (a label could hold "</script>").
    payload = json.dumps(spec).replace("</", "<\\/")
    opts = json.dumps(EMBED_OPTIONS)
    script = (
        f'<div id="{div}" class="chronik-chart"></div>\n'
        f"<script>vegaEmbed('#{div}', {payload}, {opts})"
        f".catch(e => {{ document.getElementById('{div}').textContent = String(e); }});</script>"
    )
    return {"text/html": bundle + script}


def vega_bundle() -> str:
    """vega, vega-lite (altair's version) and vega-embed as one script that sets window.vegaEmbed;
    built by vl-convert from the JavaScript inside its wheel (cached per process)."""
    if "bundle" not in _state:
        import vl_convert as vlc
        from altair.utils._importers import vl_version_for_vl_convert

        _state["bundle"] = vlc.javascript_bundle(vl_version=vl_version_for_vl_convert())
    return _state["bundle"]
