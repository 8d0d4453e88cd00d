"""Counter stores: the CounterStore contract and its backends (memory, SQLite)."""
