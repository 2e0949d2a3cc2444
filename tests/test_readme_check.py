"""README's "Checking histories of any size" holds to the code: the engines its table names, the
bytes per row `auto` decides by, the default memory limit and the report's sample (its examples
are run by test_readme.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from chronik_lab.checker.dataset import BYTES_PER_ROW
from chronik_lab.checker.dispatch import ENGINES, SAMPLE, default_memory_limit
from chronik_lab.cli import main

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = TEXT[TEXT.index("## Checking histories of any size") :]
SECTION = SECTION[: SECTION.index("\n## ", 1)]
PROSE = " ".join(SECTION.split())  # the words, whatever the line breaks


def test_the_engine_table_names_every_engine_the_library_and_cli_take():
    rows = re.findall(r"^\| `(\w+)` \|", SECTION, re.M)
    assert ["auto", *rows] == list(ENGINES)
    (engine,) = [p for p in main.commands["check"].params if p.name == "engine"]
    assert list(engine.type.choices) == list(ENGINES)


def test_auto_decides_by_the_bytes_per_row_the_readme_states():
    assert f"about {BYTES_PER_ROW} bytes per history row" in PROSE


def test_the_default_memory_limit_is_the_quarter_the_readme_states():
    assert "default a quarter of the machine's memory" in PROSE
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert default_memory_limit() == physical // 4


def test_a_paths_report_keeps_the_sample_the_readme_states():
    assert f"the first {SAMPLE:,} anomalies of each type" in PROSE
