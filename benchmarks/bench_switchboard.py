"""The switchboard's redraw time, and the page size and load time of static vs interactive HTML.

1. Redraw: one checkbox change = cl.run of the new scenario + the linked charts' new spec put
   into the live JupyterChart (no browser: the widget's comm is ipywidgets' no-kernel stand-in,
   so the time is the kernel side; the browser's re-embed is not in it). Baseline: a bare
   cl.run of the same scenario in the same process. Medians of REPEATS alternating toggles.
2. Pages: notebooks/00_start_here.ipynb run by papermill with CHRONIK_LAB_RENDERER=svg (the
   report's mode) and =html (vega-embed inlined once per page), exported with the report's
   offline lab template; size on disk, and the time headless Chromium takes from navigation to every
   chart drawn (skipped without /usr/bin/chromium).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_switchboard.py
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_switchboard.py --only redraw   # 1. only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import chronik_lab as cl

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 5
BUG = "cumulative_update_buffer"
SCENARIOS = {
    "10 messages (the seed)": cl.SEED,
    "10,000 messages, batches 4000+6000": cl.Scenario(
        messages=10_000, batch_sizes=(4_000, 6_000), acks=-1, bugs="v0.7.5", flush_batches=2
    ),
    "10,000 messages, one request each": cl.Scenario(
        messages=10_000, batch_sizes=None, acks=-1, bugs="v0.7.5", flush_batches=2
    ),
}


def median_s(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_redraw() -> None:
    print(f"switchboard redraw (toggle {BUG} off and on: the mean of the pair), median of", REPEATS)
    print(f"{'scenario':<38} {'bare cl.run':>12} {'redraw':>9} {'ratio':>6} {'overhead':>9}")
    for label, scenario in SCENARIOS.items():
        board = cl.switchboard(scenario)
        board.widget()
        board.toggle("cumulative_update_buffer").toggle("cumulative_update_buffer")  # warm up
        # A redraw is timed as a pair (switch off, switch on) / 2, the baseline as the bare runs
        # of the same two scenarios: both sides see the same mix of a cheap and a dear run.
        on = board.scenario
        off = board.toggle("cumulative_update_buffer").scenario
        board.toggle("cumulative_update_buffer")
        bare = median_s(lambda a=on, b=off: (cl.run(b), cl.run(a))) / 2
        redraw = median_s(lambda b=board: b.toggle(BUG).toggle(BUG)) / 2
        print(
            f"{label:<38} {bare * 1e3:>9.0f} ms {redraw * 1e3:>6.0f} ms "
            f"{redraw / bare:>5.1f}x {(redraw - bare) * 1e3:>6.0f} ms"
        )


def _page(mode: str, folder: Path) -> Path:
    import nbformat
    import papermill
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    executed = folder / f"00_{mode}.ipynb"
    os.environ["CHRONIK_LAB_RENDERER"] = mode  # the kernel inherits it
    try:
        papermill.execute_notebook(
            str(ROOT / "notebooks" / "00_start_here.ipynb"),
            str(executed),
            kernel_name="python3",
            progress_bar=False,
        )
    finally:
        os.environ.pop("CHRONIK_LAB_RENDERER", None)
    # The report's template: nbconvert's lab one without its CDN scripts (report/build.py).
    template = "{%- extends 'lab/index.html.j2' -%}" + "".join(
        f"{{%- block html_head_js_{b} -%}}{{%- endblock html_head_js_{b} -%}}"
        for b in ("requirejs", "mathjax", "mermaidjs")
    )
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"offline.html.j2": template})],
        template_file="offline.html.j2",
    )
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    page = folder / f"00_{mode}.html"
    page.write_text(body, encoding="utf-8")
    return page


def _load_time_s(page: Path, charts: str) -> float | None:
    """Navigation to `charts` (a JS expression) being true, in headless Chromium, offline."""
    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    import websocket

    profile = Path(tempfile.mkdtemp(prefix="bench-chromium-"))
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        while not (port_file.exists() and port_file.read_text().strip()):
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        new = urllib.request.Request(f"http://127.0.0.1:{port}/json/new", method="PUT")
        with urllib.request.urlopen(new) as resp:
            ws = websocket.create_connection(
                json.load(resp)["webSocketDebuggerUrl"], suppress_origin=True, timeout=60
            )
        ids = iter(range(1, 10_000))

        def call(method: str, **params) -> dict:
            i = next(ids)
            ws.send(json.dumps({"id": i, "method": method, "params": params}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("id") == i:
                    return msg.get("result", {})

        started = time.perf_counter()
        call("Page.navigate", url=page.as_uri())
        while True:
            value = call("Runtime.evaluate", expression=charts, returnByValue=True)
            if value.get("result", {}).get("value"):
                return time.perf_counter() - started
            if time.perf_counter() - started > 60:
                return float("nan")
            time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(profile, ignore_errors=True)


def bench_pages() -> None:
    print("\nnotebook 00 as an HTML page (papermill + the report's offline lab template)")
    drawn = {
        # nbconvert embeds each SVG output as a base64 <img>: drawn once every image decoded.
        "svg": "document.readyState === 'complete' && document.images.length >= 2 && "
        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)",
        "html": "document.querySelectorAll('.chronik-chart svg .mark-symbol').length >= 2",
    }
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("svg", "html"):
            page = _page(mode, Path(tmp))
            load = _load_time_s(page, drawn[mode])
            shown = "no chromium" if load is None else f"{load * 1e3:.0f} ms to every chart drawn"
            print(f"  {mode:<5} {page.stat().st_size / 1e3:>7.0f} kB   {shown}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["redraw", "pages"], help="one of the two figures")
    only = parser.parse_args().only
    sys.stdout.reconfigure(line_buffering=True)
    if only in (None, "redraw"):
        bench_redraw()
    if only in (None, "pages"):
        bench_pages()
