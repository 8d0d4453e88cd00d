"""`python -m toolgate.demo` runs the demo: the scripted agent with and without toolgate."""

from toolgate.demo.runner import run_demo

raise SystemExit(run_demo())
