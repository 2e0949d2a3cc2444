"""`chronik-lab`: a thin command line over the library, one module per command group.

Each command gathers its arguments, makes one call into chronik_lab and prints the result
(papermill's module per verb):

- `common`: the `main` group, the exit codes, bounded int flags and the mapping of library
  errors to one `Error:` line, which every command shares;
- `workload`: the scenario flags of simulate and explain, and batch sizes as typed;
- `reporting`: `report` (the notebooks into the HTML report);
- `simulation`: `simulate`, `explain`, `bugs` (the engine in this process);
- `checking`: `check` (a history or a consumer dump: in memory, out of core or on Dask);
- `kafka`: `serve` and `record` (the Kafka protocol: the lab's broker, a real client's run);
- `faults`: `proxy`, and `record`'s flags for a run under faults.

Exit codes, one meaning each (also in `chronik-lab --help`):

    0    done, nothing wrong found
    1    anomalies found (check)
    2    bad input: a usage error, or a library error (any ChronikLabError) as one `Error:` line
    3    a notebook failed (report)
    4    internal error: a bug in chronik_lab; the traceback is printed, please report it
    5    a partial history: `record`'s broker stopped answering during the run (the history
         of what happened up to then is written)
    130  interrupted (Ctrl-C), as a shell reports a process stopped by SIGINT
    141  the output pipe was closed (e.g. `| head`): the command stops quietly, as on SIGPIPE
"""

# Importing the command modules registers their commands on `main`.
from chronik_lab.cli import checking, faults, kafka, reporting, simulation  # noqa: F401
from chronik_lab.cli.common import main

__all__ = ["main"]
