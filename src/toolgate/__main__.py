"""`python -m toolgate` runs the command-line interface."""

from toolgate.cli.main import main

main()
