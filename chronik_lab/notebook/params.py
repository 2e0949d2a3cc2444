"""The notebooks' parameters: one rule for the ones left at "auto", and one check for all.

The same code runs in two places, so a notebook behaves alike wherever it runs:
- in `chronik-lab report`'s pre-flight, in this process, for every notebook, before any kernel
  starts (`problems()`: every problem at once, each naming its parameter);
- in each notebook's first code cell (`parameters = params.setup(globals())`), so a notebook
  run alone by papermill or in JupyterLab applies the same rule and fails with the same message.

The rule for derived parameters (the only ones whose default depends on another parameter):
- `batch_sizes="auto"`: the seed's requests continued, 4, 6, 4, 6, ... messages with the last
  one cut to fit (`cl.seed_sizes`): [4, 6] at the seed's 10 messages, 20,000 requests at
  100,000 -- what `cl.Scenario(batch_sizes="auto")` and `chronik-lab simulate --messages N`
  do. An explicit list must sum to `messages`; None is one request per message.
- `batch_splits="auto"` (06_sweep): the seed's five splits None, [10], [5, 5], [4, 6], [2, 8]
  at 10 messages; at N messages the same shares of N (None, [N], [N/2, N/2], [2N/5, 3N/5],
  [N/5, 4N/5], rounded) and the "auto" split (the seed's requests continued), dropping a
  split that would leave a request empty or repeat another.

Every other parameter is checked by its name (the rules below, built on the library's own
validation: `cl.Scenario`, `resolve_bugs`), and a parameter this module does not know by the
type its `parameters` cell declares (`top: int = 10` must stay an int). `observed_path`'s rule
reads the observation: one listed in the observations.json beside it is explained under its
recorded workload; any other file under the parameters' workload, so its ids must all be
0 .. messages-1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chronik_lab.bugs import resolve_bugs
from chronik_lab.errors import ChronikLabError, NotebookError
from chronik_lab.sim import observations
from chronik_lab.sim.scenario import WORKLOAD_FIELDS, Scenario
from chronik_lab.sim.splits import AUTO, MAX_MESSAGES, seed_sizes

__all__ = [
    "AUTO",
    "SCENARIO_PARAMETERS",
    "ParameterError",
    "Problem",
    "derive",
    "problems",
    "resolve",
    "scenario_parameters",
    "setup",
]

SEED_MESSAGES = 10
# The sweep's splits at the seed's 10 messages, as shares of the messages (None: one each).
SEED_SPLIT_SHARES: list[tuple[float, ...] | None] = [
    None,
    (1.0,),
    (0.5, 0.5),
    (0.4, 0.6),
    (0.2, 0.8),
]
SCENARIO_PARAMETERS = (*WORKLOAD_FIELDS, "bugs")


@dataclass(frozen=True)
class Problem:
    """One bad parameter: its name, the value it had, what is wrong with it, and the notebooks
    it is wrong in (a report's pre-flight check; empty inside one notebook)."""

    parameter: str
    value: Any
    message: str
    notebooks: tuple[str, ...] = ()

    def __str__(self) -> str:
        line = f"{self.parameter} = {self.value!r}: {self.message}"
        return f"{line} (in {', '.join(self.notebooks)})" if self.notebooks else line


class ParameterError(NotebookError):
    """Bad notebook parameters: `problems` holds each `Problem` (parameter, value, message,
    notebooks); the message has one line's text per problem, as the CLI prints them."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(map(str, self.problems)))


def derive(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with the "auto" parameters replaced by the rule (see the module doc). A
    derived value that cannot be computed yet (messages is not an int) is left as "auto"
    for `problems()` to report."""
    out = dict(values)
    messages = out.get("messages", SEED_MESSAGES)
    if not _is_int(messages) or not 1 <= messages <= MAX_MESSAGES:
        return out
    if out.get("batch_sizes") == AUTO:
        out["batch_sizes"] = list(seed_sizes(messages))
    if out.get("batch_splits") == AUTO:
        out["batch_splits"] = scaled_splits(messages)
    return out


def scaled_splits(messages: int) -> list[list[int] | None]:
    """The seed's sweep splits as shares of `messages` (at 10: the seed's own), and the "auto"
    split; no split twice (one request per message is None, never a list of 1s)."""
    candidates: list[list[int] | None] = []
    for shares in SEED_SPLIT_SHARES:
        if shares is None:
            candidates.append(None)
            continue
        head = [round(share * messages) for share in shares[:-1]]
        candidates.append([*head, messages - sum(head)])
    candidates.append(list(seed_sizes(messages)))
    splits: list[list[int] | None] = []
    for split in candidates:
        if split is not None and (min(split) < 1 or split == [1] * messages):
            continue
        if split not in splits:
            splits.append(split)
    return splits


def problems(
    values: Mapping[str, Any], types: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> list[Problem]:
    """Every problem of a notebook's parameters (after `derive`), [] when all are good.

    `types` maps a parameter to the annotation of its `parameters` cell ("int", "list | None"),
    used for the parameters without a rule of their own; `base_dir` is the notebook's folder
    (relative paths are read from there, as the kernel does).
    """
    values = derive(values)
    found: list[Problem] = []
    for name, value in values.items():
        rule = _RULES.get(name)
        try:
            if rule is not None:
                rule(value, values, base_dir)
            elif types and name in types:
                _check_type(name, value, types[name])
        except ChronikLabError as exc:
            found.append(Problem(name, value, _message(exc, name)))
    return found


def setup(namespace: MutableMapping[str, Any]) -> dict[str, Any]:
    """A notebook's first code cell, in one call: `parameters = params.setup(globals())`.

    Checks the notebook's parameters -- every name in `namespace` (its globals) that this
    module has a rule for -- as the report's pre-flight does (ParameterError if any is bad),
    puts the "auto" ones' values into `namespace`, and returns the cl.Scenario fields among
    them (`scenario_parameters`)."""
    checked = resolve(**{name: namespace[name] for name in _RULES if name in namespace})
    namespace.update(checked)
    return scenario_parameters(checked)


def resolve(**values: Any) -> dict[str, Any]:
    """The parameters `values` with "auto" resolved; ParameterError if any is bad."""
    bad = problems(values)
    if bad:
        raise ParameterError(bad)
    return derive(values)


def scenario_parameters(values: Mapping[str, Any]) -> dict[str, Any]:
    """The `cl.Scenario` fields among a notebook's parameters (the ones it was given)."""
    return {k: values[k] for k in SCENARIO_PARAMETERS if k in values}


# --- the rules, one per known parameter name -----------------------------------------------------


def _scenario_field(name: str) -> Callable[[Any, Mapping[str, Any], Path | None], None]:
    """A rule that lets cl.Scenario validate one field, so the message is the library's."""

    def rule(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
        Scenario(**{name: value})

    return rule


def _batch_sizes(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
    _split(value, values)


def _split(value: Any, values: Mapping[str, Any]) -> None:
    messages = values.get("messages", SEED_MESSAGES)
    if value == AUTO:  # still "auto": messages is bad, and reported under its own name
        return
    if not _is_int(messages) or messages < 1:  # judged once messages is fixed
        Scenario(batch_sizes=value, messages=sum(_ints(value)) or 1)
        return
    Scenario(messages=messages, batch_sizes=value)


def _batch_splits(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
    if value == AUTO:  # still "auto": messages is bad, and reported under its own name
        return
    splits = _list(value, "batch_splits", "splits, each a list of ints or None")
    for split in splits:
        try:
            _split(split, values)
        except ChronikLabError as exc:
            raise NotebookError(f"split {split!r}: {_message(exc)}") from None


def _bugs(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
    if value is not None and not isinstance(value, str | list):
        raise NotebookError("must be a preset name or bug names")
    resolve_bugs(value)


def _compare_with(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
    versions = [value] if isinstance(value, str) else _list(value, "compare_with", "versions")
    for version in versions:
        if not isinstance(version, str):
            raise NotebookError(f"a version must be a preset or bug names, not {version!r}")
        resolve_bugs(version)


def _flush_thresholds(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
    for threshold in _list(value, "flush_thresholds", "ints >= 1"):
        Scenario(flush_batches=threshold)


def _positive_int(name: str) -> Callable[[Any, Mapping[str, Any], Path | None], None]:
    def rule(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
        if not _is_int(value) or value < 1:
            raise NotebookError(f"{name} must be an int >= 1, not {value!r}")

    return rule


def _existing_file(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> Path:
    if not isinstance(value, str) or not value:
        raise NotebookError("must be the path of a file")
    path = Path(value) if base_dir is None else base_dir / value
    if not path.is_file():
        raise NotebookError(f"no file {path}")
    return path


def _observation(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
    """An observation (05_explain) is explained under its own workload: the one recorded in
    the observations.json beside it, else the one the parameters describe -- whose ids must
    then all be message ids that workload sent, 0 .. messages-1."""
    path = _existing_file(value, values, base_dir)
    entry = observations.recorded_observation(path)
    ids = observations.read_observed(path)["message_id"]
    if entry is not None:
        messages = Scenario(**entry["scenario"]).messages
        said = f"{observations.OBSERVATIONS_INDEX} records {messages:,} messages sent for it"
    else:
        messages = values.get("messages", SEED_MESSAGES)
        if not _is_int(messages) or messages < 1:
            return  # reported under its own name
        said = f"messages is {messages}"
    if len(ids) and int(ids.max()) >= messages:
        raise NotebookError(f"holds message id {int(ids.max())}, but {said}")


def _text(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
    if not isinstance(value, str):
        raise NotebookError(f"must be text, not {type(value).__name__}")


def _client(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
    # The real-client workloads live in chronik_lab.wire; their names are checked there.
    if not isinstance(value, str) or not value.strip():
        raise NotebookError("must be the name of a Kafka client, e.g. 'kafka-python'")


def _faults(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
    # 08_faults: fault specs, read by the wire's own parser (its message lists kinds and keys);
    # process faults need a broker command, which a notebook does not start
    from chronik_lab.wire.faults import parse_faults

    if not isinstance(value, list):
        raise NotebookError("must be a list of fault specs, e.g. ['drop-response:api=produce']")
    parse_faults(value, families=("request", "byte"))


def _idempotence(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
    settings = value if isinstance(value, list) else [value]
    if not settings or not all(isinstance(v, bool) for v in settings):
        raise NotebookError("must be true, false or a non-empty list of them")


def _broker(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
    from chronik_lab.wire.proxy import parse_address

    if value != "embedded":
        try:
            parse_address(value, "broker")
        except ChronikLabError:
            raise NotebookError("must be 'embedded' (the lab's own server) or HOST:PORT") from None


def _seed(value: Any, values: Mapping[str, Any], base_dir: Path | None) -> None:
    if not _is_int(value) or value < 0:
        raise NotebookError(f"must be an int >= 0, not {value!r}")


_RULES: dict[str, Callable[[Any, Mapping[str, Any], Path | None], None]] = {
    "messages": _scenario_field("messages"),
    "batch_sizes": _batch_sizes,
    "acks": _scenario_field("acks"),
    "bugs": _bugs,
    "flush_batches": _scenario_field("flush_batches"),
    "partitions": _scenario_field("partitions"),
    "compare_with": _compare_with,
    "batch_splits": _batch_splits,
    "flush_thresholds": _flush_thresholds,
    "top": _positive_int("top"),
    "observed_path": _observation,
    "summary_path": _text,
    "client": _client,
    "faults": _faults,
    "idempotence": _idempotence,
    "broker": _broker,
    "seed": _seed,
}


# --- helpers --------------------------------------------------------------------------------------


def _check_type(name: str, value: Any, annotation: str) -> None:
    """A parameter without a rule keeps the type its parameters cell declares."""
    kinds = {part.strip() for part in annotation.split("|")}
    checks = {
        "int": _is_int,
        "float": lambda v: _is_int(v) or isinstance(v, float),
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "list": lambda v: isinstance(v, list),
        "dict": lambda v: isinstance(v, dict),
        "None": lambda v: v is None,
    }
    known = [checks[k] for k in kinds if k in checks]
    if len(known) == len(kinds) and not any(check(value) for check in known):
        raise NotebookError(f"must be {' or '.join(sorted(kinds))}, not {type(value).__name__}")


def _list(value: Any, name: str, of: str) -> list:
    if not isinstance(value, list | tuple) or not value:
        raise NotebookError(f"{name} must be a non-empty list of {of}, not {value!r}")
    return list(value)


def _ints(value: Any) -> list[int]:
    if isinstance(value, list | tuple):
        return [v for v in value if _is_int(v)]
    return []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _message(exc: BaseException, name: str = "") -> str:
    """The error on one line, without a leading parameter name (the line already starts so)."""
    text = " ".join(str(exc).split())
    return text[len(name) + 1 :] if name and text.startswith(f"{name} must") else text
