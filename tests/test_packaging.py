"""The project's own files must install everything: environment.yml follows pyproject.toml."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Optional brokers stay out of every default install (the house rules): environment.yml names
# their pip command in a comment instead of installing them.
OUT_OF_THE_DEFAULT = ("brokers",)


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0].lower()


def test_environment_yml_lists_every_pyproject_requirement_with_the_same_bound():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    extras = project["optional-dependencies"]
    for name, extra in extras.items():
        wanted += extra if name not in OUT_OF_THE_DEFAULT else []
    env = (ROOT / "environment.yml").read_text()
    for requirement in (r for name in OUT_OF_THE_DEFAULT for r in extras[name]):
        assert f"pip install {requirement.replace(' ', '')}" in env  # named, not installed
    listed = {
        _name(m.group(1)): m.group(1).replace(" ", "")
        for m in re.finditer(r"^\s+- (?!pip$|python=)([A-Za-z0-9_.\-]+[^\n#]*)", env, re.M)
    }
    for requirement in wanted:
        name = _name(requirement)
        assert name in listed, f"{name} is in pyproject.toml but not in environment.yml"
        assert listed[name] == requirement.replace(" ", ""), f"{name}: bounds differ"


def test_package_ships_py_typed_marker():
    assert (ROOT / "chronik_lab" / "py.typed").exists()
