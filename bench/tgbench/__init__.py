"""toolgate's stdio benchmark harness (driven by bench/run_all.py)."""
