"""The switchboard: every bug switch as a checkbox, the presets as buttons, the workload as
fields; each change re-runs the scenario and redraws the linked charts and the status line.

`cl.switchboard(scenario)` returns a `Switchboard`. Displayed in a live JupyterLab kernel it is
an ipywidgets box: one checkbox per switch of `cl.BUGS` (under it, the versions it was in and
its chronik commit; hovering its name or that line shows its summary), one button per preset of
`cl.PRESETS`, fields for messages, batch sizes (what `cl.Scenario` takes: "auto", "none" or a
list), acks and flush_batches. Any change runs `cl.run` on the new scenario and puts the new
data into the same JupyterChart (received vs sent, buffer, segments: interactive.explore's
linked panels) and the status line (the checker's verdict and the outcome), in place -- "what
if only blind_append_buffer were fixed?" is one click.

Anywhere else (papermill, nbconvert, a plain `repr`), it renders its current state statically:
the switch settings as a table, the status line and the charts through the active altair
renderer (SVG in the report), so a report page still shows something meaningful.

The same changes can be made from code (`set(...)`, `toggle(name)`, `preset(name)`). A new
number of messages that the batch sizes no longer fit takes "auto" sizes, the notebooks' rule
(`set(messages=1000)` after 4,6 runs requests of 4, 6, 4, 6, ...). A bad field (batch sizes
that do not sum to messages) shows the error and keeps the last good run on screen, its status
greyed and marked as the last good run's.
"""

from __future__ import annotations

import html
import time
from typing import Any

from chronik_lab.bugs import BUGS, PRESETS
from chronik_lab.checker.counts import outcome, outcome_sentence
from chronik_lab.errors import ChronikLabError, InvalidArgumentError
from chronik_lab.sim.scenario import SEED, WORKLOAD_FIELDS, Run, Scenario, run
from chronik_lab.sim.splits import AUTO, seed_sizes

# altair, the charts and ipywidgets are imported where a board is drawn, not here: `import
# chronik_lab` (which exports switchboard) stays as fast as it was for the CLI and the engine.

__all__ = ["Switchboard", "switchboard"]

MAX_MESSAGES = 1_000_000
SIZES_SHOWN = 8  # batch sizes written out in the field; longer "auto" sizes are shown as "auto"


def switchboard(scenario: Scenario | None = None) -> Switchboard:
    """A switchboard starting from `scenario` (default: the seed, cl.SEED)."""
    return Switchboard(SEED if scenario is None else scenario)


class Switchboard:
    """The current scenario, its run, and (once displayed live) the widgets showing them.

    Not thread-safe: one kernel drives it. `redraw_s` is the time the last change took
    (run + chart data + sending the new spec), for the benchmark.
    """

    def __init__(self, scenario: Scenario) -> None:
        if not isinstance(scenario, Scenario):
            raise InvalidArgumentError(f"switchboard needs a cl.Scenario, not {scenario!r}")
        self.scenario = scenario
        self.run: Run = run(scenario)
        self.error: str | None = None
        self.redraw_s = 0.0
        self._ui: _Widgets | None = None

    # -- changes from code (the widgets call these too) ------------------------------------

    def set(self, **fields: Any) -> Switchboard:
        """Change scenario fields (messages, batch_sizes, acks, flush_batches, bugs, ...) and
        re-run. New messages that the current batch sizes do not fit (and no new sizes) take
        "auto" sizes, as the notebooks do. A bad value leaves the last good run and shows the
        error."""
        started = time.perf_counter()
        wanted = self.scenario.to_dict() | fields
        if "batch_sizes" not in fields and not _fits(wanted["batch_sizes"], wanted["messages"]):
            wanted["batch_sizes"] = AUTO
        try:
            scenario = Scenario(**wanted)
            result = run(scenario)
        except ChronikLabError as exc:
            self.error = str(exc)
        except TypeError as exc:  # an unknown field name
            self.error = f"unknown scenario field: {exc}"
        else:
            self.scenario, self.run, self.error = scenario, result, None
        if self._ui is not None:
            self._ui.show(self)
        self.redraw_s = time.perf_counter() - started
        return self

    def toggle(self, bug: str) -> Switchboard:
        """Switch one bug on or off."""
        if bug not in BUGS:
            raise InvalidArgumentError(f"unknown bug {bug!r}; known: {', '.join(BUGS)}")
        return self.set(bugs=_bugs_value(self.scenario.bug_set ^ {bug}))

    def preset(self, name: str) -> Switchboard:
        """Set every switch as a preset has it (v0.7.5, v0.7.6, v1.0 / fixed)."""
        if name not in PRESETS:
            raise InvalidArgumentError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
        return self.set(bugs=name)

    # -- what it shows ----------------------------------------------------------------------

    def status(self) -> str:
        """One line: the checker's verdict, the outcome (checker/counts.py's sentence) and the
        received pattern."""
        r = self.run
        found = {k: v for k, v in r.report.counts.items() if v}
        head = (
            "OK: a correct log"
            if r.report.ok
            else "ANOMALIES: " + ", ".join(f"{k} {v}" for k, v in found.items())
        )
        said = outcome_sentence(len(r.sent), outcome(r.received, len(r.sent)))
        return f"{head} | {said} | pattern {r.report.pattern_text() or '(nothing received)'}"

    def spec(self) -> dict[str, Any]:
        """The linked charts' Vega-Lite spec for the current run."""
        from chronik_lab.viz import interactive

        return interactive.explore_spec(self.run)

    def widget(self) -> Any:
        """The ipywidgets box (built on first use; needs ipywidgets and anywidget)."""
        if self._ui is None:
            self._ui = _Widgets(self)
        return self._ui.box

    def _ipython_display_(self) -> None:
        """Live (the renderer switch says interactive): the widgets. Otherwise the static
        state: settings and status as HTML, then the charts through the active renderer."""
        from IPython.display import HTML, display

        from chronik_lab.viz import interactive, render

        mode = render.active_mode() or render.detect()  # the notebook's switch, if it was set
        if mode == "interactive":
            display(self.widget())
            return
        display(HTML(self.static_html()))
        display(interactive.explore(self.run))

    def static_html(self) -> str:
        """The settings (every switch on or off, the workload) and the status as HTML."""
        left = "style='text-align:left'"  # notebook CSS right-aligns table cells: text reads left
        rows = "".join(
            f"<tr><td {left}><code>{html.escape(n)}</code></td>"
            f"<td {left}>{'<b>on</b>' if n in self.scenario.bug_set else 'off'}</td>"
            f"<td {left}>{html.escape(b.summary)} (chronik {b.chronik_commit})</td></tr>"
            for n, b in BUGS.items()
        )
        fields = ", ".join(f"{f}={getattr(self.scenario, f)!r}" for f in WORKLOAD_FIELDS)
        error = f"<p><b>not run:</b> {html.escape(self.error)}</p>" if self.error else ""
        return (
            f"<div class='chronik-switchboard'><p><b>Scenario:</b> {html.escape(fields)}, "
            f"bugs={html.escape(repr(self.scenario.bugs))}</p>"
            f"<table><tr><th {left}>switch</th><th {left}>state</th>"
            f"<th {left}>what it does</th></tr>{rows}</table>"
            f"<p><b>Status:</b> {html.escape(self.status())}</p>{error}</div>"
        )

    def __repr__(self) -> str:
        return f"Switchboard({self.scenario!r}) -> {self.status()}"


def _bugs_value(bugs: frozenset[str]) -> str | tuple[str, ...]:
    """A preset's name when the switches match one exactly (charts read better), else names."""
    for name, members in PRESETS.items():
        if members == bugs and name != "fixed":
            return name
    return tuple(sorted(bugs))


class _Widgets:
    """The live controls. Widget events call Switchboard.set; `show` pushes a state back."""

    def __init__(self, board: Switchboard) -> None:
        import ipywidgets as w  # the notebooks extra: imported only when a board goes live

        self._quiet = False  # set while `show` writes widget values, so they do not re-run
        s = board.scenario
        # ipywidgets 8 shows a Checkbox's tooltip only when it has no description, and titles
        # the description with the name itself: the summary goes in a title on the name (an
        # HTML description) and on a visible line under the box, which names its versions and
        # commit.
        self.boxes = {
            name: w.Checkbox(
                value=name in s.bug_set,
                description=f"<span title='{_tip(name)}'>{html.escape(name)}</span>",
                description_allow_html=True,
                indent=False,
                layout=w.Layout(width="260px"),
            )
            for name in BUGS
        }
        for name, box in self.boxes.items():
            box.observe(lambda ch, n=name: self._on_box(board, n, ch), names="value")
        self.buttons = [w.Button(description=name, tooltip=_preset_tip(name)) for name in PRESETS]
        for button in self.buttons:
            button.on_click(lambda b: board.preset(b.description))
        self.fields = {
            "messages": w.BoundedIntText(
                value=s.messages, min=1, max=MAX_MESSAGES, description="messages"
            ),
            "batch_sizes": w.Text(
                value=_sizes_text(s.batch_sizes, s.messages),
                description="batch sizes",
                placeholder="auto, none (one each), or 4,6",
                continuous_update=False,
            ),
            "acks": w.ToggleButtons(options=[-1, 0, 1], value=s.acks, description="acks"),
            "flush_batches": w.IntSlider(
                value=s.flush_batches,
                min=1,
                max=50,
                description="flush_batches",
                continuous_update=False,
                style={"description_width": "initial"},  # the whole name, not "flush_batc..."
            ),
        }
        for name, field in self.fields.items():
            field.observe(lambda ch, n=name: self._on_field(board, n, ch), names="value")
        self.status = w.HTML()
        self.chart = _live_chart(board)
        cells = [w.VBox([box, w.HTML(_caption(name))]) for name, box in self.boxes.items()]
        switches = w.GridBox(cells, layout=w.Layout(grid_template_columns="repeat(3, 270px)"))
        self.box = w.VBox(
            [
                w.HBox([w.HTML("<b>presets</b>"), *self.buttons]),
                switches,
                w.HBox([self.fields["messages"], self.fields["batch_sizes"]]),
                w.HBox([self.fields["acks"], self.fields["flush_batches"]]),
                self.status,
                self.chart,
            ]
        )
        self.show(board, chart=False)

    def _on_box(self, board: Switchboard, name: str, change: dict) -> None:
        if not self._quiet and (name in board.scenario.bug_set) != change["new"]:
            board.toggle(name)

    def _on_field(self, board: Switchboard, name: str, change: dict) -> None:
        """Fields depend on each other (batch sizes must sum to messages): run what all of
        them say now, so fixing one field after another reaches a valid scenario."""
        if self._quiet:
            return
        values = {n: f.value for n, f in self.fields.items()}
        try:
            values["batch_sizes"] = _parse_sizes(values["batch_sizes"])
        except InvalidArgumentError as exc:
            board.error = str(exc)
            self.show(board, chart=False)
            return
        if name == "messages" and not _fits(values["batch_sizes"], values["messages"]):
            values["batch_sizes"] = AUTO  # the sizes were for the old count: the notebooks' rule
        board.set(**values)

    def show(self, board: Switchboard, chart: bool = True) -> None:
        """Write the board's state into the widgets without triggering re-runs."""
        self._quiet = True
        try:
            for name, box in self.boxes.items():  # (a preset button moves many at once)
                box.value = name in board.scenario.bug_set
            # After an error the fields keep what the user typed; the run stays the last good one.
            for name, field in self.fields.items() if board.error is None else ():
                value = getattr(board.scenario, name)
                if name == "batch_sizes":
                    value = _sizes_text(value, board.scenario.messages)
                field.value = value
        finally:
            self._quiet = False
        text = html.escape(board.status())
        if board.error:  # the run on screen is the last good one, not what the fields say
            self.status.value = (
                f"<b style='color:#c62828'>not run: {html.escape(board.error)}</b><br>"
                f"<span style='color:#888888'>last good run: {text}</span>"
            )
            return
        colour = "#2e7d32" if board.run.report.ok else "#c62828"
        self.status.value = f"<span style='color:{colour}'><b>{text}</b></span>"
        if chart:
            self.chart.spec = board.spec()


def _live_chart(board: Switchboard) -> Any:
    """One JupyterChart for the life of the board: redraws replace its spec (same params)."""
    import altair as alt

    from chronik_lab.viz import interactive, render

    alt.JupyterChart.enable_offline(True)  # vega bundled by vl-convert: nothing from a CDN
    return alt.JupyterChart(interactive.explore(board.run), embed_options=render.EMBED_OPTIONS)


def _preset_tip(name: str) -> str:
    bugs = sorted(PRESETS[name])
    return f"{name}: " + (", ".join(bugs) if bugs else "no bugs (a correct Kafka-style log)")


def _tip(name: str) -> str:
    bug = BUGS[name]
    return html.escape(f"{bug.summary} (chronik {bug.chronik_commit})", quote=True)


def _caption(name: str) -> str:
    """The line under a switch's box: the versions it was in and its commit; the summary on
    hover."""
    bug = BUGS[name]
    fixed = "never fixed" if bug.fixed_in == "never" else f"fixed in {bug.fixed_in}"
    return (
        f"<span title='{_tip(name)}' style='font-size:85%;color:#666666'>"
        f"from {html.escape(bug.introduced_in)}, {html.escape(fixed)} · "
        f"{html.escape(bug.chronik_commit)}</span>"
    )


def _fits(sizes: Any, messages: int) -> bool:
    """Whether batch sizes (None, "auto" or a list) can be used for `messages` as they are."""
    if sizes is None or sizes == AUTO:
        return True
    try:
        return sum(sizes) == messages
    except TypeError:  # not a list of numbers: cl.Scenario says why
        return True


def _sizes_text(sizes: tuple[int, ...] | None, messages: int) -> str:
    """The field's text for batch sizes: "none", the list, or "auto" for the auto sizes of a
    workload too long to list."""
    if sizes is None:
        return "none"
    if len(sizes) > SIZES_SHOWN and tuple(sizes) == seed_sizes(messages):
        return AUTO
    return ",".join(str(n) for n in sizes)


def _parse_sizes(text: str) -> tuple[int, ...] | str | None:
    """The field's text as cl.Scenario's batch_sizes: "auto", None ("none" or empty: one
    request per message) or a list of ints."""
    if text.strip().lower() == AUTO:
        return AUTO
    if text.strip().lower() in ("none", ""):
        return None
    parts = [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise InvalidArgumentError(
            f'batch sizes are "auto", "none" or integers like 4,6, not {text!r}'
        ) from None
