"""Notebooks are stored without outputs: the hook JupyterLab calls before it saves one.

`make lab` runs JupyterLab with `lab/jupyter_server_config.py`, which sets
`ContentsManager.pre_save_hook` to `strip_before_save`: every notebook saved from the lab loses
its outputs, execution counts and widget state before it reaches the disk, so running a notebook
and saving it leaves `notebooks/` as git has it. The executed copies belong in the report folder
(`chronik-lab report`), never beside the sources.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

__all__ = ["strip_before_save", "strip_outputs"]


def strip_outputs(notebook: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Remove, in place, what running a notebook adds: each code cell's outputs and execution
    count, and the notebook's saved widget state. Sources, tags and the rest of the metadata
    stay. Returns the notebook."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    notebook.get("metadata", {}).pop("widgets", None)  # ipywidgets' state: an output too
    return notebook


def strip_before_save(model: MutableMapping[str, Any], **_: Any) -> None:
    """jupyter_server's `ContentsManager.pre_save_hook`: strip a notebook model's outputs.
    Other files (and a notebook saved without content) are left as they are."""
    if model.get("type") == "notebook" and model.get("content") is not None:
        strip_outputs(model["content"])
