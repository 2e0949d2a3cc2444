"""A real JupyterLab, a real headless Chromium, and no network: the charts are live.

One session-scoped JupyterLab server (127.0.0.1, a free port, a token, a temporary root with
tiny notebooks) and one headless Chromium driven over the Chrome DevTools protocol (a small
client over websocket-client below; no browser download, Debian's /usr/bin/chromium). Chromium
resolves no host but 127.0.0.1 (`--host-resolver-rules`), and every request the page makes is
recorded: the test fails if any left localhost -- a chart that needed a CDN would be blank here.

The tests execute a notebook's cells in the browser (JupyterLab's own run-all command), then:
the chart area holds drawn marks (counted in the SVG and seen as non-white pixels in a
screenshot), hovering a record shows a tooltip with its broker offset, clicking a record outlines
the buffer and segment marks that hold its offset (the linked selection), and the switchboard
re-runs when a checkbox is clicked. Screenshots go to CHRONIK_LAB_SCREENSHOTS (default: the
test's tmp dir) for a person to look at.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest
from served import free_port, wait_http

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
LOCAL_HOSTS = {"127.0.0.1", "localhost", ""}
TIMEOUT_S = 120

websocket = pytest.importorskip("websocket", reason="websocket-client drives Chromium (test extra)")
if not Path(CHROMIUM).exists():
    pytest.skip(
        "no chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True
    )
pytest.importorskip("anywidget", reason="the notebooks extra (anywidget, ipywidgets) is missing")


# -- a tiny Chrome DevTools protocol client ----------------------------------------------------


class Page:
    """One Chromium tab over CDP: commands by id, events collected while waiting."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=TIMEOUT_S, suppress_origin=True)
        self.next_id = 0
        self.requests: list[str] = []

    def send(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == "Network.requestWillBeSent":
                self.requests.append(msg["params"]["request"]["url"])
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str) -> object:
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = TIMEOUT_S) -> object:
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout} s waiting for: {expression}")

    def mouse(self, kind: str, x: float, y: float, **extra: object) -> None:
        self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    def click(self, x: float, y: float) -> None:
        self.mouse("mouseMoved", x, y)
        self.mouse("mousePressed", x, y, button="left", clickCount=1)
        self.mouse("mouseReleased", x, y, button="left", clickCount=1)

    def screenshot(self, path: Path, clip: dict | None = None) -> bytes:
        params: dict[str, object] = {"format": "png"}
        if clip:
            params["clip"] = {**clip, "scale": 1}
        data = base64.b64decode(self.send("Page.captureScreenshot", **params)["data"])
        path.write_bytes(data)
        return data


# -- fixtures: the server, the browser ---------------------------------------------------------


def _notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("lab")
    _notebook(
        root / "explore.ipynb",
        "import chronik_lab as cl\nfrom chronik_lab.viz import interactive, render\n"
        'mode = render.use_renderer("auto")\nmode',
        "interactive.explore(cl.run(cl.SEED))",
        "from chronik_lab.viz import charts\ncharts.segment_map(cl.run(cl.SEED))",
    )
    _notebook(
        root / "lost.ipynb",
        "import chronik_lab as cl\nfrom chronik_lab.viz import interactive, render\n"
        'render.use_renderer("auto")',
        'interactive.explore(cl.run(cl.SEED.with_bugs("v0.7.6")))',  # ids 0-3 lost
    )
    _notebook(
        root / "board.ipynb",
        'import chronik_lab as cl\nfrom chronik_lab.viz import render\nrender.use_renderer("auto")',
        "board = cl.switchboard(cl.SEED)\nboard",
    )
    _notebook(
        root / "live.ipynb",
        "import chronik_lab as cl\nfrom chronik_lab.viz import live, render\n"
        'render.use_renderer("auto")',
        "big = cl.Scenario(messages=100_000, batch_sizes=[10_000] * 10, acks=-1, flush_batches=2)\n"
        "explorer = live.live(cl.run(big))\nexplorer",
    )
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("CHRONIK_LAB_RENDERER", None)
    # No user settings or workspaces leak in or out; the configuration is `make lab`'s (lab/).
    env["JUPYTER_CONFIG_DIR"] = str(root / ".jupyter-config")
    env["JUPYTERLAB_SETTINGS_DIR"] = str(root / ".lab-settings")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(root / ".lab-workspaces")
    env["JUPYTER_CONFIG_PATH"] = str(ROOT / "lab")
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--expose-app-in-browser",
    ]  # fmt: skip
    log = (root / "server.log").open("wb")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", server, TIMEOUT_S)
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "root": root}
    finally:
        _stop(server)
        log.close()


@pytest.fixture(scope="session")
def browser(tmp_path_factory) -> Iterator[dict]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--no-default-browser-check", "--window-size=1400,2200",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError("chromium did not open its DevTools port")
            time.sleep(0.2)
        yield {"port": int(port_file.read_text().split()[0])}
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process group we started: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("CHRONIK_LAB_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _new_tab(browser: dict) -> Page:
    with urllib.request.urlopen(
        urllib.request.Request(f"http://127.0.0.1:{browser['port']}/json/new", method="PUT")
    ) as resp:
        return Page(json.load(resp)["webSocketDebuggerUrl"])


def _open(browser: dict, lab: dict, notebook: str) -> Page:
    """A new tab on `notebook`, network recording on; cells run with JupyterLab's run-all."""
    page = _new_tab(browser)
    page.send("Network.enable")
    page.send("Page.enable")
    page.send("Page.navigate", url=f"{lab['url']}/lab/tree/{notebook}?token={lab['token']}")
    panel = (
        "Array.from(window.jupyterapp.shell.widgets('main'))"
        f".find(w => w.context && w.context.path === {json.dumps(notebook)})"
    )
    page.wait_for(
        f"(() => {{ const w = window.jupyterapp && {panel}; const k = w && w.sessionContext"
        " && w.sessionContext.session && w.sessionContext.session.kernel;"
        " return !!k && k.connectionStatus === 'connected' && k.status === 'idle'; })()"
    )
    page.js(
        # window.__panel: this notebook's panel; queries stay inside it (JupyterLab restores
        # other notebooks of the workspace in the same page).
        f"(() => {{ const w = {panel}; window.__panel = w;"
        " window.jupyterapp.shell.activateById(w.id);"
        " return window.jupyterapp.commands.execute('notebook:run-all-cells').then(() => true);"
        " })()"
    )
    return page


def _assert_offline(page: Page) -> None:
    hosts = {urlparse(u).hostname or "" for u in page.requests if u.startswith("http")}
    assert page.requests, "no request was recorded at all: the recorder is broken"
    assert hosts <= LOCAL_HOSTS, f"requests left localhost: {sorted(hosts - LOCAL_HOSTS)}"


def _all(selector: str) -> str:
    """JavaScript for the elements matching `selector` inside the open notebook's panel."""
    return f"Array.from(window.__panel.node.querySelectorAll({json.dumps(selector)}))"


def _box(page: Page, selector: str, index: int = 0) -> dict:
    return page.js(
        f"(() => {{ const e = {_all(selector)}[{index}];"
        " if (!e) return null; const r = e.getBoundingClientRect();"
        " return {x: r.x, y: r.y, width: r.width, height: r.height}; })()"
    )


def _drawn_fraction(png: bytes) -> float:
    """The share of pixels that are not (near) white: marks, axes, legends."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    histogram = image.histogram()  # 256 grey levels
    return sum(histogram[:235]) / sum(histogram)


# Data marks only (legend symbols are role-legend-symbol).
MARKS = ".vega-embed svg .mark-symbol.role-mark path"
RECTS = ".vega-embed svg .mark-rect.role-mark path"
TOOLTIP = "#vg-tooltip-element"


def offline_exporter():
    """nbconvert's lab template without its CDN scripts (require.js, MathJax, mermaid), as the
    report's exporter (report/build.py) has it: what is left to load is the charts' own."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    template = (
        "{%- extends 'lab/index.html.j2' -%}\n"
        "{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}\n"
        "{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}\n"
        "{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}\n"
    )
    return HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"offline.html.j2": template})],
        template_file="offline.html.j2",
    )


# -- the tests ---------------------------------------------------------------------------------


def test_jupyterlab_starts_without_asking_to_fetch_news(lab, browser, shots):
    """`make lab`'s configuration (lab/): no "official Jupyter news?" prompt, which would ask
    to go online on a first start (it showed whatever news_url said)."""
    page = _new_tab(browser)
    try:
        page.send("Network.enable")
        page.send("Page.navigate", url=f"{lab['url']}/lab?token={lab['token']}")
        page.wait_for("!!(window.jupyterapp && window.jupyterapp.restored)")
        page.js("window.jupyterapp.restored.then(() => true)")
        page.wait_for("!!document.querySelector('.jp-NotebookPanel, .jp-Launcher')")
        deadline = time.monotonic() + 8  # the prompt came within a second of the restore
        while time.monotonic() < deadline:
            text = page.js("document.body.innerText")
            assert "Jupyter news" not in text, "JupyterLab asks to fetch news"
            time.sleep(0.5)
        page.screenshot(shots / "lab_started.png")
        _assert_offline(page)
    finally:
        page.ws.close()


def test_explore_chart_draws_marks_and_hover_shows_a_tooltip_offline(lab, browser, shots):
    page = _open(browser, lab, "explore.ipynb")
    try:
        count = page.wait_for(f"{_all(MARKS)}.length")
        assert count == 20  # the seed's 20 received records
        rects = page.js(f"{_all(RECTS)}.length")
        assert rects > 3  # buffer cells and the segment
        # The existing charts.* builders draw live too (the notebooks' drop-in).
        page.wait_for(f"{_all('.vega-embed')}.length === 2")
        page.wait_for(f"{_all('.vega-embed')}[1].querySelectorAll('.role-mark path').length > 0")
        chart = _box(page, ".vega-embed")
        png = page.screenshot(shots / "explore.png", clip=chart)
        assert _drawn_fraction(png) > 0.03
        mark = _box(page, MARKS, 5)
        page.mouse("mouseMoved", mark["x"] + mark["width"] / 2, mark["y"] + mark["height"] / 2)
        text = page.wait_for(
            f"(() => {{ const t = document.querySelector({json.dumps(TOOLTIP)});"
            " return t && t.classList.contains('visible') && t.innerText; })()",
            timeout=20,
        )
        assert "broker offset" in text and "message id" in text and "poll" in text
        page.screenshot(shots / "explore_tooltip.png")
        _assert_offline(page)
    finally:
        page.ws.close()


def test_lost_ids_are_drawn_as_crosses_in_their_own_lane_with_a_matching_legend(
    lab, browser, shots
):
    page = _open(browser, lab, "lost.ipynb")
    try:
        page.wait_for(f"{_all(MARKS)}.length === 10")  # 6 received, 4 lost
        marks = page.js(
            f"{_all(MARKS)}.map(p => {{ const r = p.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, fill: p.getAttribute('fill'),"
            " arc: /[aA]/.test(p.getAttribute('d'))}; })"
        )
        lost = [m for m in marks if m["fill"] == "#e45756"]
        received = [m for m in marks if m["fill"] != "#e45756"]
        assert len(lost) == 4 and len(received) == 6
        # beside the received panel (they never had a client offset), not on its diagonal
        assert min(m["x"] for m in lost) > max(m["x"] for m in received) + 10
        assert not any(m["arc"] for m in lost)  # crosses, not circles
        legend = page.js(
            f"{_all('.vega-embed svg .role-legend-symbol path')}"
            ".map(p => ({fill: p.getAttribute('fill'), arc: /[aA]/.test(p.getAttribute('d'))}))"
        )
        lost_keys = [s for s in legend if s["fill"] == "#e45756"]
        assert lost_keys and not any(s["arc"] for s in lost_keys)  # the legend's lost: a cross
        page.screenshot(shots / "explore_lost_lane.png", clip=_box(page, ".vega-embed"))
        _assert_offline(page)
    finally:
        page.ws.close()


def test_clicking_a_record_outlines_its_buffer_and_segment_ranges(lab, browser, shots):
    page = _open(browser, lab, "explore.ipynb")
    try:
        page.wait_for(f"{_all(MARKS)}.length >= 20")
        outlined = f"{_all(RECTS)}.filter(p => p.getAttribute('stroke') === 'black').length"
        assert page.js(outlined) == 0
        mark = _box(page, MARKS, 4)  # client offset 4: message id 0, seen a second time
        page.click(mark["x"] + mark["width"] / 2, mark["y"] + mark["height"] / 2)
        assert page.wait_for(outlined, timeout=20) >= 2  # buffer cells and the segment
        page.screenshot(shots / "explore_linked.png", clip=_box(page, ".vega-embed"))
        _assert_offline(page)
    finally:
        page.ws.close()


def test_switchboard_checkbox_reruns_and_redraws_in_the_browser(lab, browser, shots):
    page = _open(browser, lab, "board.ipynb")
    try:
        verdict = f"{_all('.widget-html-content')}.map(e => e.innerText).join(' ')"
        page.wait_for(f"{verdict}.includes('ANOMALIES')")
        page.wait_for(f"{_all(MARKS)}.length >= 20")
        page.screenshot(shots / "switchboard.png")
        box = page.wait_for(
            f"(() => {{ const l = {_all('.widget-checkbox')}"
            ".find(e => e.innerText.includes('cumulative_update_buffer'));"
            " const i = l && l.querySelector('input'); if (!i) return null;"
            " const r = i.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        page.click(box["x"], box["y"])
        page.wait_for(f"{verdict}.includes('OK: a correct log')", timeout=30)
        page.wait_for(f"{_all(MARKS)}.length === 10", timeout=30)  # the 10 records, once each
        page.screenshot(shots / "switchboard_toggled.png")
        _assert_offline(page)
    finally:
        page.ws.close()


def test_each_switchs_name_shows_its_summary_on_hover_and_its_commit_under_it(lab, browser, shots):
    """ipywidgets 8 ignores a Checkbox's tooltip when it has a description and titles the
    name with the name itself: hovering showed only the switch's name."""
    import chronik_lab as cl

    page = _open(browser, lab, "board.ipynb")
    try:
        page.wait_for(f"{_all('.widget-checkbox')}.length === {len(cl.BUGS)}")
        for name, bug in cl.BUGS.items():
            # what the browser shows on hover: the title of the innermost titled element
            shown = page.js(
                f"(() => {{ const box = {_all('.widget-checkbox')}"
                f".find(e => e.innerText.trim() === {json.dumps(name)});"
                " const r = box.querySelector('.widget-label-basic span').getBoundingClientRect();"
                " let e = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);"
                " while (e && !(e.getAttribute && e.getAttribute('title'))) e = e.parentElement;"
                " const cell = box.parentElement;"
                " return {title: e && e.getAttribute('title'), text: cell.innerText}; })()"
            )
            assert shown["title"] == f"{bug.summary} (chronik {bug.chronik_commit})", name
            assert bug.chronik_commit in shown["text"] and bug.introduced_in in shown["text"]
        page.screenshot(shots / "switchboard_captions.png")
        _assert_offline(page)
    finally:
        page.ws.close()


def test_every_switchs_name_and_caption_show_whole_inside_its_own_cell(lab, browser, shots):
    """18 switches in the grid: the longer names and the new switches' sources ("kafka
    clients", "librdkafka#4953") must neither be cut ("...") nor spill into a neighbour."""
    import chronik_lab as cl

    page = _open(browser, lab, "board.ipynb")
    try:
        page.wait_for(f"{_all('.widget-checkbox')}.length === {len(cl.BUGS)}")
        cells = page.js(
            f"{_all('.widget-checkbox')}.map(box => {{"
            " const cell = box.parentElement, r = cell.getBoundingClientRect();"
            " const label = box.querySelector('.widget-label-basic');"
            " const caption = cell.querySelector('.widget-html-content span');"
            " const c = caption.getBoundingClientRect();"
            " return {name: box.innerText.trim(), cut: label.scrollWidth > label.clientWidth,"
            " cell: [r.left, r.top, r.right, r.bottom], caption: [c.left, c.right],"
            " grid: cell.parentElement.getBoundingClientRect().right,"
            " area: cell.closest('.jp-OutputArea-output').getBoundingClientRect().right}; })"
        )
        page.screenshot(shots / "switchboard_grid.png")
        assert sorted(c["name"] for c in cells) == sorted(cl.BUGS)
        for c in cells:
            left, _, right, _ = c["cell"]
            assert not c["cut"], f"{c['name']}: its name is cut short"
            assert left - 1 <= c["caption"][0] and c["caption"][1] <= right + 1, c
            assert c["grid"] <= c["area"] + 1, "the grid is wider than the output area"
        for a, b in itertools.combinations(cells, 2):
            (l1, t1, r1, b1), (l2, t2, r2, b2) = a["cell"], b["cell"]
            overlap = min(r1, r2) - max(l1, l2) > 1 and min(b1, b2) - max(t1, t2) > 1
            assert not overlap, (a["name"], b["name"])
        _assert_offline(page)
    finally:
        page.ws.close()


def test_zooming_into_an_aggregated_run_refines_it_to_single_records(lab, browser, shots):
    page = _open(browser, lab, "live.ipynb")
    try:
        title = f"{_all('.vega-embed svg .role-title-text')}.map(t => t.textContent).join(' | ')"
        page.wait_for(f"{title}.includes('aggregated')")
        assert page.js(f"{_all(MARKS)}.length") == 0  # 100,000 records: grid cells, no points
        chart = _box(page, ".vega-embed")
        x, y = chart["x"] + 320, chart["y"] + 150  # inside the received panel
        page.mouse("mouseMoved", x, y)
        for _ in range(8):  # Vega-Lite zooms by 1.001 ** -deltaY: about 120x in all
            page.mouse("mouseWheel", x, y, deltaX=0, deltaY=-600)
            time.sleep(0.05)
        page.wait_for(f"{title}.includes('broker offsets')", timeout=60)  # the kernel refined
        page.wait_for(f"{_all(MARKS)}.length > 100", timeout=30)  # single records now
        assert "aggregated" not in page.js(title).split(" | ")[1]
        page.screenshot(shots / "live_refined.png", clip=_box(page, ".vega-embed"))
        _assert_offline(page)
    finally:
        page.ws.close()


def test_html_mode_report_page_is_interactive_offline(browser, tmp_path, shots, monkeypatch):
    """The report's opt-in mode: a papermill run with CHRONIK_LAB_RENDERER=html, exported by
    nbconvert, opened from disk: both charts drawn (the second uses the first's bundle) and a
    hover shows a tooltip, with no request but the file itself."""
    import papermill

    source, executed = tmp_path / "page.ipynb", tmp_path / "page.out.ipynb"
    _notebook(
        source,
        "import chronik_lab as cl\nfrom chronik_lab.viz import interactive, render\n"
        'render.use_renderer("auto")',
        "interactive.explore(cl.run(cl.SEED))",
        'interactive.explore(cl.run(cl.SEED.with_bugs("fixed")))',
    )
    monkeypatch.setenv("CHRONIK_LAB_RENDERER", "html")  # the kernel inherits it
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    papermill.execute_notebook(
        str(source), str(executed), kernel_name="python3", progress_bar=False
    )
    body, _ = offline_exporter().from_notebook_node(nbformat.read(executed, 4))
    page_file = tmp_path / "page.html"
    page_file.write_text(body, encoding="utf-8")
    assert body.count("window.vegaEmbed=") == 1
    page = _new_tab(browser)
    try:
        page.send("Network.enable")
        page.send("Page.navigate", url=page_file.as_uri())
        marks = "document.querySelectorAll('.chronik-chart svg .mark-symbol.role-mark path')"
        page.wait_for(f"{marks}.length === 30")  # 20 records of the seed, 10 of the fixed run
        png = page.screenshot(shots / "html_page.png")
        assert _drawn_fraction(png) > 0.03
        mark = page.js(
            f"(() => {{ const r = {marks}[3].getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        page.mouse("mouseMoved", mark["x"], mark["y"])
        text = page.wait_for(
            f"(() => {{ const t = document.querySelector({json.dumps(TOOLTIP)});"
            " return t && t.classList.contains('visible') && t.innerText; })()",
            timeout=20,
        )
        assert "broker offset" in text
        schemes = {urlparse(u).scheme for u in page.requests}
        assert schemes <= {"file", "data", "blob"}, sorted(page.requests)[:5]
    finally:
        page.ws.close()
