"""`python -m chronik_lab` runs the `chronik-lab` command line."""

from .cli import main

main(prog_name="chronik-lab")
