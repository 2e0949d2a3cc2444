"""Counts past what a run can hold are refused before any work starts (issue 19 item 9): a
simulated run's messages and partitions, in the library, the CLI and a report's parameters --
one error line and exit 2, where `simulate --messages 2147483647` ran out of memory,
`simulate --partitions 2147483647` never ended and `report -p messages 9...9` raised
OverflowError (exit 4, a traceback)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import chronik_lab as cl
from chronik_lab.cli import main
from chronik_lab.errors import ScenarioError
from chronik_lab.sim.scenario import MAX_PARTITIONS_PER_TOPIC as MAX_PARTITIONS
from chronik_lab.sim.splits import MAX_MESSAGES

INT32_MAX = "2147483647"
HUGE = "99999999999999999999999"


def one_error_line(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_a_scenario_takes_up_to_max_messages_and_partitions_and_refuses_more():
    assert cl.Scenario(messages=MAX_MESSAGES, partitions=MAX_PARTITIONS).messages == MAX_MESSAGES
    with pytest.raises(ScenarioError, match="messages must be at most 10,000,000"):
        cl.Scenario(messages=MAX_MESSAGES + 1)
    with pytest.raises(ScenarioError, match="partitions must be at most 1,000"):
        cl.Scenario(partitions=MAX_PARTITIONS + 1)
    with pytest.raises(ScenarioError, match="at most"):
        cl.seed_sizes(MAX_MESSAGES + 1)


@pytest.mark.parametrize("option", ["--messages", "--partitions"])
@pytest.mark.parametrize("count", [INT32_MAX, str(MAX_MESSAGES + 1)])
def test_simulate_refuses_an_absurd_count_in_one_line(option, count):
    line = one_error_line(["simulate", option, count])
    assert f"{option[2:]} must be at most" in line and count in line


def test_report_refuses_an_absurd_messages_parameter_before_any_kernel(tmp_path):
    line = one_error_line(["report", "--out", str(tmp_path / "out"), "-p", "messages", HUGE])
    assert "messages = " in line and "must be at most 10,000,000" in line
    assert not (tmp_path / "out").exists()
