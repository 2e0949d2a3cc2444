"""`python -m chronik_lab` runs the `chronik-lab` command line."""

from chronik_lab.cli import main

main(prog_name="chronik-lab")
