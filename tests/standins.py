"""Small stand-in notebooks for the report tests: a real parameters cell, a real altair chart.

They exercise build_report with real papermill runs and real kernels, in a couple of seconds
each, independently of the project's own notebooks.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PARAMETERS = """messages: int = 10  # how many messages the producer sends
bugs: str = "v0.7.5"  # a preset or bug names
summary_path: str = "summary.json"  # where this notebook writes its JSON summary
"""

# A bar per message in a saturated palette, so the browser test can count the chart's pixels.
CHART = """import json

import altair as alt
import pandas as pd

alt.renderers.enable("svg")
df = pd.DataFrame({"message": range(messages), "copies": [1 + i % 2 for i in range(messages)]})
alt.Chart(df, width=500, height=250).mark_bar(color="#e45756").encode(
    x="message:O", y="copies:Q"
)
"""

# The kernel's working directory goes in the summary: the report starts each kernel in its
# notebook's folder.
SUMMARY = """import os

with open(summary_path, "w") as f:
    json.dump({"sent": messages, "received": 2 * messages, "bugs": bugs, "cwd": os.getcwd(),
               "counts": {"duplicate": messages, "lost-write": 0},
               "pattern": f"0–{messages - 1} ↦ 0–{messages - 1}"}, f)
"""


def write_notebook(path: Path, *cells: str, parameters: str = PARAMETERS) -> Path:
    """A notebook with a `parameters` cell followed by `cells`, with the python3 kernelspec."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    param_cell = new_code_cell(parameters)
    param_cell.metadata["tags"] = ["parameters"]
    nb.cells = [new_markdown_cell(f"# {path.stem}"), param_cell]
    nb.cells += [new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def chart_notebook(path: Path) -> Path:
    return write_notebook(path, CHART, SUMMARY)


def failing_notebook(path: Path) -> Path:
    return write_notebook(path, CHART, 'raise RuntimeError("boom in the notebook")', SUMMARY)


def plain_notebook(path: Path) -> Path:
    """No chart and no `bugs` parameter: a notebook that must not receive `-p bugs`."""
    params = 'messages: int = 10  # how many\nsummary_path: str = "s.json"  # summary\n'
    return write_notebook(
        path,
        'import json\nwith open(summary_path, "w") as f:\n'
        '    json.dump({"sent": messages, "received": messages, "counts": {}}, f)',
        parameters=params,
    )


def silent_notebook(path: Path) -> Path:
    """Declares summary_path but never writes it: a notebook bug the report must flag."""
    return write_notebook(path, "print(messages)")


def sleeping_notebook(path: Path, seconds: int = 120) -> Path:
    """Runs for `seconds` after writing `started` beside itself: the Ctrl-C test's notebook."""
    return write_notebook(
        path,
        f'import time\nopen("started", "w").close()\ntime.sleep({seconds})',
    )


def standin_notebooks(folder: Path) -> Path:
    """The stand-in report's notebooks: two charts, a failing one, one without `bugs` and
    one that writes no summary."""
    folder.mkdir(parents=True)
    chart_notebook(folder / "01_chart.ipynb")
    failing_notebook(folder / "02_fail.ipynb")
    plain_notebook(folder / "03_plain.ipynb")
    silent_notebook(folder / "04_silent.ipynb")
    chart_notebook(folder / "05_chart.ipynb")
    return folder
