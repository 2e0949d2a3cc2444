"""The renderer switch, the linked charts' specs, and the switchboard, in process.

The browser side (drawn marks, tooltips, clicks, the network staying off) is in
test_jupyterlab_browser.py; timings are in benchmarks/bench_switchboard.py.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import altair as alt
import nbformat
import papermill
import pytest
from altair.jupyter.jupyter_chart import load_js_src

import chronik_lab as cl
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.viz import chartdata, interactive, render

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def seed() -> cl.Run:
    return cl.run(cl.SEED)


@pytest.fixture
def restore_renderer():
    before = alt.renderers.active
    yield
    alt.renderers.enable(before)


# -- render: one switch ------------------------------------------------------------------------


def test_auto_is_interactive_in_a_jupyter_server_kernel():
    env = {"JPY_SESSION_NAME": "/lab/notebook.ipynb"}
    assert render.detect(env, history=["import chronik_lab"], in_kernel=True) == "interactive"


def test_auto_is_the_report_mode_under_papermill_even_in_a_server_started_kernel():
    cells = ["", "# Parameters\nbugs = 'v0.7.6'\n", "render.use_renderer('auto')"]
    assert render.detect({"JPY_SESSION_NAME": "x.ipynb"}, cells, in_kernel=True) == "svg"


def test_auto_is_the_report_mode_in_a_kernel_no_server_started():
    assert render.detect({}, history=["x = 1"], in_kernel=True) == "svg"  # papermill, nbclient


def test_auto_is_the_report_mode_outside_a_kernel():
    assert render.detect({"JPY_SESSION_NAME": "x.ipynb"}, [], in_kernel=False) == "svg"
    assert render.detect() == "svg"  # this pytest process


def test_the_environment_variable_forces_a_mode():
    for mode in ("interactive", "svg", "html"):
        env = {render.ENV_VAR: mode.upper()}
        assert render.detect(env, ["# Parameters"], in_kernel=False) == mode


def test_a_bad_mode_is_a_clear_error():
    with pytest.raises(InvalidArgumentError, match="renderer mode"):
        render.use_renderer("mimetype")
    with pytest.raises(InvalidArgumentError, match=render.ENV_VAR):
        render.detect({render.ENV_VAR: "cdn"}, [], in_kernel=False)


def test_use_renderer_enables_the_chosen_altair_renderer(restore_renderer):
    assert render.use_renderer("svg") == "svg"
    assert alt.renderers.active == "svg" and render.active_mode() == "svg"
    assert render.use_renderer("interactive") == "interactive"
    assert alt.renderers.active == "jupyter"
    assert alt.renderers.options["offline"] is True  # vl-convert's bundle, never a CDN
    assert render.use_renderer("auto") == "svg"  # a plain process is not a live kernel


@pytest.mark.slow
def test_html_mode_inlines_the_vega_bundle_once_per_page(restore_renderer, seed):
    render.use_renderer("html")
    renderer = alt.renderers.get()
    first = renderer(interactive.explore_spec(seed))["text/html"]
    second = renderer(interactive.explore_spec(seed))["text/html"]
    assert "window.vegaEmbed" in first and len(first) > 500_000
    assert "window.vegaEmbed" not in second and len(second) < 50_000
    assert "vegaEmbed('#chronik-chart-" in second
    assert not re.search(r"<script[^>]+src=", first + second)  # nothing loaded by URL
    render.use_renderer("html")  # a new page: the bundle comes again
    assert "window.vegaEmbed" in renderer(interactive.explore_spec(seed))["text/html"]


@pytest.mark.slow
def test_every_existing_chart_builder_renders_as_a_live_jupyter_chart(seed):
    """The drop-in: notebooks 01-06 keep their charts.* calls; in JupyterLab each becomes a
    JupyterChart, whose spec is the chart's own."""
    from chronik_lab.viz import charts

    versions = cl.run_presets(cl.SEED)
    built = [
        charts.received_vs_sent(seed),
        charts.segment_map(seed),
        charts.buffer_contents(seed),
        charts.before_after(versions),
        interactive.explore(seed),
    ]
    alt.JupyterChart.enable_offline(True)
    for chart in built:
        widget = alt.JupyterChart(chart, embed_options=render.EMBED_OPTIONS)
        assert "/vega-lite/v6" in widget.spec["$schema"]
        assert widget.spec.get("datasets")  # the data travels inside the spec, not by URL
    # The widget's JavaScript is vl-convert's bundle: no module imported from a URL (online,
    # altair's own module starts with an import from a CDN).
    assert alt.JupyterChart._is_offline
    from_url = re.compile(r"""(import|from)\s*["']https?://""")
    assert not from_url.search(alt.JupyterChart._esm)
    assert from_url.search(load_js_src())  # the pattern does catch altair's online module


# -- the linked charts' spec -------------------------------------------------------------------


def _marks(spec: dict) -> list[tuple[str, dict]]:
    """Every unit view (a dict with a mark) in a spec, with the dataset it draws (its own or
    the one it inherits from its layer)."""
    found = []

    def walk(node, data):
        if isinstance(node, dict):
            data = node.get("data", {}).get("name", data)
            if "mark" in node:
                found.append((data, node))
            for key, value in node.items():
                if key not in ("datasets", "params"):  # a brush has a mark too
                    walk(value, data)
        elif isinstance(node, list):
            for value in node:
                walk(value, data)

    walk(spec, None)
    return found


def _tooltip_fields(view: dict) -> set[str]:
    return {t["field"] for t in view["encoding"]["tooltip"]}


def test_every_mark_has_a_tooltip_with_the_fields_of_its_panel(seed):
    views = _marks(interactive.explore(seed).to_dict())
    assert {data for data, _ in views} == set(interactive.DATASETS)
    wanted = {
        "received": {"offset", "server_offset", "message_id", "poll", "status"},
        "lost": {"message_id", "server_offset"},
        "buffer": {"lo", "hi", "segment_file", "segment_base", "segment_visible", "step_label"},
        "segments": {"lo", "hi", "segment_file", "segment_base", "segment_visible", "step_label"},
        "fetches": {"poll", "fetch_offset", "step_label"},
    }
    for data, view in views:
        assert wanted[data] <= _tooltip_fields(view)


def test_selections_are_top_level_and_shared_by_the_buffer_and_segment_panels(seed):
    spec = interactive.explore(seed).to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert set(params) == set(interactive.PARAMS)
    received_row, buffer, segments = spec["vconcat"]
    first_layer = [received_row["hconcat"][0]["layer"][0]["name"]]
    first_layer += [panel["layer"][0]["name"] for panel in (buffer, segments)]
    assert params["pick"]["views"] == [first_layer[0]]
    assert params["pick"]["select"]["fields"] == ["message_id", "server_offset"]
    for shared in ("offsets", "zoom_log"):
        assert set(params[shared]["views"]) >= {first_layer[1], first_layer[2]}
    assert params["zoom_received"]["bind"] == "scales"
    # The other panels test the selections by name in their encodings.
    text = json.dumps(spec["vconcat"])
    assert "pick.server_offset" in text and "offsets.lo" in text


def test_the_spec_references_no_url_but_its_schema_identifier(seed):
    spec = interactive.explore(seed).to_dict()
    spec.pop("$schema")  # an identifier vega-embed reads, never fetches
    assert not re.search(r"https?://", json.dumps(spec))


def test_explore_spec_is_explore_without_rebuilding(seed):
    fast = interactive.explore_spec(seed)
    slow = interactive.explore(seed).to_dict()
    names = re.compile(r"view_[0-9a-f]+_\d+")  # altair's view names hash the whole chart
    assert names.sub("V", json.dumps(fast, sort_keys=True)) == names.sub(
        "V", json.dumps(slow, sort_keys=True)
    )


def test_changing_an_explore_chart_changes_no_later_one(seed):
    """explore copies a cached layout: what a caller sets on one chart stays in that chart."""
    before = interactive.explore(seed).to_dict()
    changed = interactive.explore(seed)
    changed.title = "changed"
    changed.vconcat[1].title = "changed"
    changed.vconcat[1].layer[0].encoding.x.scale.domain = [0, 99]
    changed.datasets["received"].clear()
    assert interactive.explore(seed).to_dict() == before
    assert changed.to_dict()["title"] == "changed"


def test_seed_records_carry_the_broker_offsets_of_the_duplication(seed):
    data = interactive.explore_spec(seed)["datasets"]
    received = data["received"]
    assert [r["offset"] for r in received] == list(range(20))
    broker = [0, 1, 2, 3, *range(10), *range(4, 10)]
    assert [r["server_offset"] for r in received] == broker
    assert {r["poll"] for r in received} == {0}
    assert sum(r["status"] == "duplicate" for r in received) == 10


def test_seed_buffer_marks_name_the_step_and_the_invisible_segment(seed):
    data = interactive.explore_spec(seed)["datasets"]
    labels = {r["step_label"] for r in data["buffer"]}
    assert {"update_buffer (from produce)", "update_buffer (from flush)"} <= labels
    before_flush = [r for r in data["buffer"] if r["step_start"] < 8]
    assert before_flush and all(r["segment_file"] == "not flushed" for r in before_flush)
    after = [r for r in data["buffer"] if r["step_start"] >= 8]
    assert {r["segment_file"] for r in after} == {"chronik-test-0/00000000000000000000.arrows"}
    assert {r["segment_visible"] for r in after} == {"no"}  # v0.7.5: only rotation registers
    (segment,) = data["segments"]
    assert (segment["lo"], segment["hi"], segment["visible"]) == (0, 10, False)
    assert segment["step_label"].startswith("segment_write")


@pytest.mark.parametrize(
    "scenario",
    [
        cl.SEED,
        cl.Scenario(messages=30, batch_sizes=(7, 3, 11, 9), bugs="v0.7.6", flush_batches=1),
        cl.Scenario(messages=12, batch_sizes=(4, 4, 4), acks=-1, broker_restarts=(3,)),
    ],
    ids=["seed", "v0.7.6-four-batches", "restart"],
)
def test_buffer_marks_name_the_segment_and_step_in_force_when_they_start(scenario):
    """Each buffer mark's segment fields and step label, against a plain reference: the
    segment snapshot in force at the mark's first step (the last at or before it), its first
    segment holding the mark's lowest offset; the last trace row of that step."""
    run = cl.run(scenario)
    seg, trace = run.segment_snapshots, run.trace
    rows = interactive.explore_spec(run)["datasets"]["buffer"]
    assert rows
    for row in rows:
        before = seg[seg["step_index"] <= row["step_start"]]
        snapshot = seg[seg["step_index"] == before["step_index"].max()] if len(before) else seg[:0]
        last = snapshot["last_offset"].fillna(snapshot["base_offset"] - 1)
        holding = snapshot[(snapshot["base_offset"] <= row["lo"]) & (last >= row["lo"])]
        if holding.empty:
            assert (row["segment_file"], row["segment_visible"]) == ("not flushed", "-")
        else:
            hit = holding.iloc[0]
            assert row["segment_file"].endswith(f"{int(hit['base_offset']):020d}.arrows")
            assert row["segment_base"] == hit["base_offset"]
            assert row["segment_visible"] == ("yes" if hit["visible"] else "no")
        step = trace[trace["step_index"] == row["step_start"]].iloc[-1]
        assert row["step_label"].startswith(f"{step['step']} (from ")


def test_correct_broker_segment_is_visible(seed):
    data = interactive.explore_spec(cl.run(cl.SEED.with_bugs("fixed")))["datasets"]
    assert all(r["visible"] for r in data["segments"])
    assert max(r["multiplicity"] for r in data["buffer"]) == 1


@pytest.fixture(scope="module")
def big() -> cl.Run:
    sizes = [10_000] * 10
    return cl.run(cl.Scenario(messages=100_000, batch_sizes=sizes, acks=-1, flush_batches=2))


def test_a_big_run_is_aggregated_within_the_row_limit_and_says_so(big):
    spec = interactive.explore_spec(big)
    rows = sum(len(v) for v in spec["datasets"].values())
    assert rows <= chartdata.MAX_ROWS
    assert "aggregated" in spec["vconcat"][0]["title"]
    assert "count" in spec["datasets"]["received"][0]


def test_a_narrow_offset_range_of_a_big_run_draws_every_record(big):
    spec = interactive.explore_spec(big, offsets=(1_000, 1_499))
    received = spec["datasets"]["received"]
    assert "aggregated" not in spec["vconcat"][0]["title"]
    assert sorted(r["server_offset"] for r in received) == list(range(1_000, 1_500))


def test_bad_offsets_and_partitions_are_clear_errors(seed):
    with pytest.raises(InvalidArgumentError, match="lo <= hi"):
        interactive.explore(seed, offsets=(5, 2))
    with pytest.raises(InvalidArgumentError, match="partition 3"):
        interactive.explore(seed, partition=3)


# -- the switchboard ---------------------------------------------------------------------------


@pytest.fixture
def board() -> cl.Switchboard:
    return cl.switchboard(cl.SEED)


class Controls:
    """The board's live widgets as a user finds them in `board.widget()` (built here, with no
    kernel behind them: ipywidgets allows it): switches and fields by their labels, the preset
    buttons, the status line and the chart."""

    def __init__(self, board: cl.Switchboard) -> None:
        import ipywidgets as w

        box = board.widget()
        found = list(_widgets(box))
        # a switch's label is its name, wrapped in a span that carries its summary on hover
        self.boxes = {
            html.unescape(re.sub(r"<[^>]*>", "", c.description)): c
            for c in found
            if isinstance(c, w.Checkbox)
        }
        self.buttons = [c for c in found if isinstance(c, w.Button)]
        inputs = (w.BoundedIntText, w.Text, w.ToggleButtons, w.IntSlider)
        self.fields = {c.description: c for c in found if isinstance(c, inputs)}
        [self.status] = [c for c in box.children if isinstance(c, w.HTML)]
        [self.chart] = [c for c in found if isinstance(c, alt.JupyterChart)]


def _widgets(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _widgets(child)


def _anomalies(run: cl.Run) -> str:
    """The status line's anomaly list for a run, as the checker counts them."""
    return ", ".join(f"{k} {v}" for k, v in run.report.counts.items() if v)


def _received(board: cl.Switchboard) -> int:
    return len(Controls(board).chart.spec["datasets"]["received"])


@pytest.mark.slow
def test_unticking_a_checkbox_reruns_and_redraws(board):
    ui = Controls(board)
    assert "ANOMALIES: duplicate 10" in ui.status.value
    assert _received(board) == 20
    ui.boxes["cumulative_update_buffer"].value = False  # as a click does
    assert "cumulative_update_buffer" not in board.scenario.bug_set
    assert "OK: a correct log" in ui.status.value
    assert _received(board) == 10
    assert board.redraw_s > 0


def test_a_preset_button_sets_every_switch(board):
    ui = Controls(board)
    v076 = next(b for b in ui.buttons if b.description == "v0.7.6")
    v076.click()
    assert board.scenario.bugs == "v0.7.6"
    ticked = {n for n, box in ui.boxes.items() if box.value}
    assert ticked == set(cl.PRESETS["v0.7.6"])
    expected = cl.run(cl.SEED.with_bugs("v0.7.6"))  # what the engine does is the engine's
    assert _received(board) == len(expected.received)
    assert _anomalies(expected) in ui.status.value and "ANOMALIES" in board.status()


@pytest.mark.slow
def test_fields_rerun_together_and_a_bad_one_keeps_the_last_run(board):
    ui = Controls(board)
    ui.fields["batch sizes"].value = "3,3"  # does not sum to 10 yet
    assert "sum to 6, not 10" in ui.status.value and _received(board) == 20
    ui.fields["messages"].value = 6
    assert board.error is None and board.scenario.batch_sizes == (3, 3)
    assert _received(board) == 12  # v0.7.5 still duplicates every id
    ui.fields["batch sizes"].value = "three"
    assert "integers" in ui.status.value


def _widget(board: cl.Switchboard, description: str):
    """The board's field with this description, found through the widget tree."""
    todo = [board.widget()]
    while todo:
        widget = todo.pop()
        if getattr(widget, "description", None) == description:
            return widget
        todo += list(getattr(widget, "children", ()))
    raise AssertionError(f"no widget {description!r}")


def _status(board: cl.Switchboard) -> str:
    todo, found = [board.widget()], []
    while todo:
        widget = todo.pop()
        if "pattern" in str(getattr(widget, "value", "")):
            found.append(widget.value)
        todo += list(getattr(widget, "children", ()))
    assert len(found) == 1
    return found[0]


def test_new_messages_the_sizes_do_not_fit_take_auto_sizes(board):
    _widget(board, "messages").value = 1000  # the fields said 4,6: the seed's split of 10
    assert board.error is None
    assert board.scenario.batch_sizes == cl.seed_sizes(1000)  # the notebooks' rule
    assert _widget(board, "batch sizes").value == "auto"
    assert "not run" not in _status(board) and "1,000 sent" in _status(board)
    board.set(messages=10)  # from code alike: the 1,000-message sizes do not fit 10
    assert board.error is None and board.scenario.batch_sizes == (4, 6)


def test_the_batch_sizes_field_takes_what_a_scenario_takes(board):
    sizes = _widget(board, "batch sizes")
    sizes.value = "none"
    assert board.error is None and board.scenario.batch_sizes is None
    assert len(board.run.sent["request"].unique()) == 10  # one request per message
    sizes.value = "auto"
    assert board.error is None and board.scenario.batch_sizes == (4, 6)
    sizes.value = "2,8"
    assert board.error is None and board.scenario.batch_sizes == (2, 8)


def test_a_bad_field_greys_the_verdict_of_the_last_good_run(board):
    before = board.status()
    _widget(board, "batch sizes").value = "3,3"  # does not sum to 10
    status = _status(board)
    assert status.startswith("<b style='color:#c62828'>not run: ")
    assert "sum to 6, not 10" in status
    assert f"<span style='color:#888888'>last good run: {before}</span>" in status
    _widget(board, "batch sizes").value = "4,6"
    assert "not run" not in _status(board) and "#888888" not in _status(board)


def test_each_switch_names_its_versions_and_commit_and_its_summary_on_hover(board):
    widgets = _all_widgets(board)
    names = {
        w.description: w for w in widgets if type(w).__name__ == "Checkbox"
    }  # a name in an HTML span titled with the summary (ipywidgets shows no tooltip there)
    captions = [str(w.value) for w in widgets if type(w).__name__ == "HTML"]
    for name, bug in cl.BUGS.items():
        box = next(b for d, b in names.items() if f">{name}</span>" in d)
        assert box.description_allow_html
        assert html.escape(f"{bug.summary} (chronik {bug.chronik_commit})") in box.description
        assert any(f"from {bug.introduced_in}" in c and bug.chronik_commit in c for c in captions)


def _all_widgets(board: cl.Switchboard) -> list:
    todo, out = [board.widget()], []
    while todo:
        widget = todo.pop()
        out.append(widget)
        todo += list(getattr(widget, "children", ()))
    return out


def test_the_static_table_reads_left_aligned():
    text = cl.switchboard(cl.SEED).static_html()
    cells = re.findall(r"<t[dh]( [^>]*)?>", text)
    assert cells and all("text-align:left" in (attrs or "") for attrs in cells)


def test_code_and_widgets_agree(board):
    ui = Controls(board)
    board.toggle("blind_append_buffer").set(flush_batches=3)
    assert ui.boxes["blind_append_buffer"].value is False
    assert ui.fields["flush_batches"].value == 3
    with pytest.raises(InvalidArgumentError, match="unknown bug"):
        board.toggle("no_such_bug")


def test_static_state_lists_every_switch_and_the_status():
    text = cl.switchboard(cl.SEED.with_bugs("v0.7.6")).static_html()
    expected = cl.run(cl.SEED.with_bugs("v0.7.6"))
    for name in cl.BUGS:
        assert f"<code>{name}</code>" in text
    assert _anomalies(expected) in text and "8eb1c4d" in text


@pytest.mark.slow
def test_start_here_runs_under_papermill_with_a_static_switchboard(tmp_path):
    summary = tmp_path / "00.json"
    out = tmp_path / "00.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "00_start_here.ipynb"),
        str(out),
        parameters={"bugs": "v0.7.6", "summary_path": str(summary)},
        kernel_name="python3",
        progress_bar=False,
    )
    outputs = [o for c in nbformat.read(out, as_version=4).cells for o in c.get("outputs", [])]
    kinds = [k for o in outputs for k in o.get("data", {})]
    assert kinds.count("image/svg+xml") >= 2  # the board's charts and explore's
    assert not [k for k in kinds if "widget" in k or "vegalite" in k]
    html = " ".join(o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {}))
    expected = cl.run(cl.SEED.with_bugs("v0.7.6"))
    assert _anomalies(expected) in html
    s = json.loads(summary.read_text())
    assert s["notebook"] == "00_start_here" and s["received"] == len(expected.received)


def test_start_here_is_stored_clean_with_a_documented_parameters_cell():
    path = ROOT / "notebooks" / "00_start_here.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata["tags"]
    assert 'render.use_renderer("auto")' in code[1].source
    declared = papermill.inspect_notebook(str(path))
    assert {"messages", "batch_sizes", "acks", "bugs", "flush_batches", "summary_path"} <= set(
        declared
    )
    assert all(p["help"].strip() and p["inferred_type_name"] != "None" for p in declared.values())


# -- live: refining as the zoom settles --------------------------------------------------------


def _zoom(explorer, lo: float, hi: float) -> None:
    """What the browser sends when the received panel's zoom settles on client offsets lo..hi."""
    chart = explorer.chart
    chart._vl_selections = chart._vl_selections | {
        "zoom_received": {"value": {"offset": [lo, hi]}, "store": []}
    }


def test_a_settled_zoom_refines_an_aggregated_run_to_single_records(big):
    from chronik_lab.viz import live

    explorer = live.live(big)
    assert explorer.aggregated()
    _zoom(explorer, 20_000.4, 20_600.6)
    assert explorer.offsets == (20_001, 20_600) and explorer.refinements == 1
    received = explorer.chart.spec["datasets"]["received"]
    assert not explorer.aggregated() and len(received) == 600
    _zoom(explorer, 20_100, 20_200)  # single records already: the browser's zoom suffices
    assert explorer.refinements == 1
    explorer.reset_button.click()
    assert explorer.offsets is None and explorer.aggregated()


def test_a_small_run_never_re_embeds(seed):
    from chronik_lab.viz import live

    explorer = live.live(seed)
    before = explorer.chart.spec
    _zoom(explorer, 2, 6)
    assert explorer.refinements == 0 and explorer.chart.spec is before


def test_importing_chronik_lab_does_not_import_the_chart_or_widget_stack():
    """cl.switchboard is exported, but altair and ipywidgets load only when a board is drawn:
    the CLI and the engine start as fast as before."""
    import subprocess
    import sys

    code = "import sys, chronik_lab; print(sorted({'altair', 'ipywidgets'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lost_ids_are_crosses_in_a_lane_of_their_own_not_at_client_offsets():
    run = cl.run(cl.SEED.with_bugs("v0.7.6"))  # ids 0-3 lost
    spec = interactive.explore(run).to_dict()
    lost = [view for data, view in _marks(spec) if data == "lost"]
    assert len(lost) == 1 and lost[0]["encoding"]["x"]["field"] == "lane"  # not "offset"
    row = spec["vconcat"][0]["hconcat"]
    assert json.dumps(lost[0]) in json.dumps(row[1])  # beside the received panel, not in it
    assert "lost" not in json.dumps(row[0]["layer"][0].get("data", {}))
    # one legend: shape and colour by status, a cross for lost in both the lane and the scale
    shapes = [v["encoding"]["shape"]["scale"] for _, v in _marks(spec) if "shape" in v["encoding"]]
    lost_shape = [dict(zip(s["domain"], s["range"], strict=True))["lost"] for s in shapes]
    assert lost_shape and set(lost_shape) == {"cross"}
    assert spec["resolve"]["scale"]["shape"] == "independent"  # merged with colour per row
    title = json.dumps(spec["vconcat"][0]["title"])
    assert "10 sent, 6 received: 4 lost" in title
