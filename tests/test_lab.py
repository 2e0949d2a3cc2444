"""`make lab`: its arguments, its configuration (lab/), and notebooks saved without outputs.

The saving test starts a real Jupyter server with the lab's configuration (JUPYTER_CONFIG_PATH=
lab, as the Makefile sets it), saves a notebook with outputs through the contents API, as
JupyterLab's save does, and reads the file on disk. The news prompt is a browser test
(test_jupyterlab_browser.py)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import nbformat
import pytest
from served import free_port, wait_http

from chronik_lab.notebook.saving import strip_before_save, strip_outputs

ROOT = Path(__file__).resolve().parents[1]


def _executed_notebook() -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("1 + 1", execution_count=3)
    cell.outputs = [
        nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=3)
    ]
    cell.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title"), cell])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def test_strip_outputs_keeps_sources_tags_and_metadata_but_no_outputs():
    nb = strip_outputs(_executed_notebook())
    code = nb.cells[1]
    assert code.outputs == [] and code.execution_count is None
    assert code.source == "1 + 1" and code.metadata["tags"] == ["parameters"]
    assert nb.cells[0].source == "# Title"
    assert "widgets" not in nb.metadata and nb.metadata["kernelspec"]["name"] == "python3"
    nbformat.validate(nb)


def test_the_pre_save_hook_leaves_other_files_alone():
    model = {"type": "file", "content": "print(1)\n", "format": "text"}
    strip_before_save(model=model, path="x.py")
    assert model["content"] == "print(1)\n"
    strip_before_save(model={"type": "notebook", "content": None}, path="x.ipynb")  # a rename


def test_make_lab_passes_lab_args_and_the_lab_configuration():
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "lab", "LAB_ARGS=--port 8899 --no-browser"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dry.returncode == 0, dry.stderr
    (command,) = [line for line in dry.stdout.splitlines() if "jupyter lab" in line]
    assert f'JUPYTER_CONFIG_PATH="{ROOT}/lab"' in command
    assert "jupyter lab --port 8899 --no-browser notebooks/" in command


@pytest.mark.slow
def test_a_notebook_saved_through_the_lab_server_has_no_outputs_on_disk(tmp_path):
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(ROOT / "lab"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),  # no user configuration leaks in
        "PYTHONPATH": str(ROOT),
    }
    cmd = [
        sys.executable, "-m", "jupyter_server", "--no-browser", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={tmp_path}",
    ]  # fmt: skip
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/saved.ipynb?token={token}"
        wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", server)
        body = {"type": "notebook", "format": "json", "content": _executed_notebook()}
        request = urllib.request.Request(
            url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="PUT"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status in (200, 201)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    on_disk = nbformat.read(tmp_path / "saved.ipynb", 4)
    assert [c.source for c in on_disk.cells] == ["# Title", "1 + 1"]
    assert on_disk.cells[1].outputs == [] and on_disk.cells[1].execution_count is None
    assert "widgets" not in on_disk.metadata
