"""What the report checks before any kernel starts: which notebooks to run, the parameters
each one declares, and whether the given values are good for every one of them.

A kernel takes seconds to start and a bad parameter would fail every notebook one by one, each
with a traceback; checked here, in this process, every problem is one line naming the
parameter and the notebooks, in well under a second.
"""

from __future__ import annotations

import ast
import io
import json
import tokenize
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from chronik_lab.errors import InvalidArgumentError, NotebookError, one_line
from chronik_lab.notebook import params as notebook_params

__all__ = [
    "SUMMARY_PARAMETER",
    "check_parameters",
    "declared_parameters",
    "parse_parameter_value",
    "select_notebooks",
]

SUMMARY_PARAMETER = "summary_path"


def select_notebooks(found: list[Path], names: Iterable[str] | None) -> list[Path]:
    """The notebooks named (by stem, "01_reproduce", or file name), in name order; all of
    them when `names` is None or empty."""
    wanted = [str(n) for n in names or ()]
    if not wanted:
        return found
    by_name = {p.stem: p for p in found} | {p.name: p for p in found}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise NotebookError(
            f"no notebook named {', '.join(map(repr, unknown))}; "
            f"notebooks: {', '.join(p.stem for p in found)}"
        )
    chosen = {by_name[n] for n in wanted}
    return [p for p in found if p in chosen]


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """The parameters a notebook's `parameters` cell declares: name -> {name,
    inferred_type_name, default, help}, the fields of papermill's inspection.

    Read with `ast`, not papermill's line regex, which skips any line with a second "=" (as in
    `# None = one request per message`) and would leave that parameter undeclared.
    """
    source = _parameters_source(notebook)
    if source is None:
        return {}
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise NotebookError(f"{notebook.name}: the parameters cell is not Python: {exc}") from exc
    lines = source.splitlines()
    params = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            annotation = getattr(node, "annotation", None)
            for target in (t for t in targets if isinstance(t, ast.Name)):
                params[target.id] = {
                    "name": target.id,
                    "inferred_type_name": ast.unparse(annotation) if annotation else "None",
                    "default": ast.unparse(node.value),
                    "help": _comment(lines[node.end_lineno - 1]),
                }
    return params


def _parameters_source(notebook: Path) -> str | None:
    """The source of the cell tagged `parameters`, read as plain JSON: nbformat's import alone
    (its schema checks) takes longer than this whole pre-flight is allowed."""
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotebookError(f"cannot read notebook {notebook}: {exc}") from exc
    if not tagged:
        return None
    source = tagged[0].get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _comment(line: str) -> str:
    """The trailing `# comment` of a line of code (a '#' inside a string is not one)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, SyntaxError):
        return ""
    comments = [t.string for t in tokens if t.type == tokenize.COMMENT]
    return comments[-1].lstrip("#").strip() if comments else ""


def check_parameters(
    given: Mapping[str, Any], declared: Mapping[Path, Mapping[str, Mapping[str, Any]]]
) -> None:
    """Raise before anything runs: NotebookError for a parameter no notebook declares (a typo
    would be silently ignored), ParameterError with one line per bad value otherwise.

    Each notebook's values are its defaults with the given ones over them, checked by
    `chronik_lab.notebook.params` exactly as the notebook's first cell will check them.
    """
    if SUMMARY_PARAMETER in given:
        raise NotebookError(f"{SUMMARY_PARAMETER} is set by the report for each notebook")
    known = set().union(*map(set, declared.values())) - {SUMMARY_PARAMETER}
    unknown = sorted(set(given) - known)
    if unknown:
        raise NotebookError(
            f"no notebook declares parameter {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(known)) or 'none'}"
        )
    found: dict[str, notebook_params.Problem] = {}  # one per problem, naming its notebooks
    for notebook, decl in declared.items():
        values = {**_defaults(decl), **{k: v for k, v in given.items() if k in decl}}
        values.pop(SUMMARY_PARAMETER, None)
        types = {name: d["inferred_type_name"] for name, d in decl.items()}
        for problem in notebook_params.problems(values, types, base_dir=notebook.parent):
            seen = found.setdefault(str(problem), problem)
            found[str(problem)] = replace(seen, notebooks=(*seen.notebooks, notebook.stem))
    if found:
        raise notebook_params.ParameterError(found.values())


def _defaults(declared: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The defaults of a parameters cell that are literals (the others stay unchecked)."""
    out = {}
    for name, d in declared.items():
        try:
            out[name] = ast.literal_eval(d["default"])
        except (ValueError, SyntaxError):
            continue
    return out


# -p values: a notebook parameter is a scalar or a short list, never a document.
PARAMETER_MAX_CHARS = 10_000
PARAMETER_MAX_DEPTH = 8


def parse_parameter_value(name: str, text: str) -> Any:
    """A `-p NAME VALUE` value as papermill reads it: a YAML literal (10, [4, 6], true), or text.

    Only plain values: at most PARAMETER_MAX_CHARS characters and PARAMETER_MAX_DEPTH levels of
    nesting, and no anchors or aliases (`&a [*a]` recurses forever, a "billion laughs" list
    expands to gigabytes), so that parsing a value is linear in its length."""
    if not text.strip():  # -p bugs "" means the empty text, not YAML's null
        return text
    if len(text) > PARAMETER_MAX_CHARS:
        raise InvalidArgumentError(f"-p {name}: the value is {len(text):,} characters; at most "
                       f"{PARAMETER_MAX_CHARS:,}")  # fmt: skip
    try:
        _plain_yaml(name, text)
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        if text.lstrip()[:1] in "[{":  # meant as a list or a mapping, so a typo, not text
            raise InvalidArgumentError(
                f"-p {name}: cannot parse {text!r}: {one_line(exc)}"
            ) from None
        return text
    if text.strip() == "None":  # papermill's spelling of None
        return None
    # YAML also reads dates and the like; a notebook parameter only takes JSON-like values.
    return value if _json_like(value) else text


def _plain_yaml(name: str, text: str) -> None:
    """Refuse anchors, aliases, tags and deep nesting from YAML's token stream (linear time)."""
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, yaml.AnchorToken | yaml.AliasToken | yaml.TagToken):
            raise InvalidArgumentError(
                f"-p {name}: YAML anchors, aliases and tags (&, *, !) are not allowed"
            )
        if isinstance(token, yaml.FlowSequenceStartToken | yaml.FlowMappingStartToken
                      | yaml.BlockSequenceStartToken | yaml.BlockMappingStartToken):  # fmt: skip
            depth += 1
            if depth > PARAMETER_MAX_DEPTH:
                raise InvalidArgumentError(
                    f"-p {name}: nested deeper than {PARAMETER_MAX_DEPTH} levels"
                )
        elif isinstance(token, yaml.FlowSequenceEndToken | yaml.FlowMappingEndToken
                        | yaml.BlockEndToken):  # fmt: skip
            depth -= 1


def _json_like(value: Any) -> bool:
    if isinstance(value, list):
        return all(_json_like(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_like(v) for k, v in value.items())
    return value is None or isinstance(value, str | int | float | bool)
