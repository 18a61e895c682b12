"""`python -m midigen` runs the command line (and is what torchrun starts)."""

from .cli import main

main(prog_name="midigen")
