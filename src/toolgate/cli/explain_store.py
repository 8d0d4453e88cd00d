"""Reading counters for `toolgate explain` without changing (or creating) the store.

The URL forms are those of `toolgate run` (`app.counter_store`); an SQLite store is only opened
when its file exists, and only `get` is called on it (`get` never sweeps or writes).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from toolgate.policy.decision import CounterRef
from toolgate.stores.redis_url import url_scheme


class _FixedClock:
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return 0.0


def resolve_store(url: str | None, state_dir: Path | None) -> tuple[str, bool]:
    """The store URL `run` would use, and whether it holds anything to read (file exists).

    Raises ConfigError for a URL that names no store (unknown scheme, Redis in this build).
    """
    from toolgate.app.counter_store import open_counter_store
    from toolgate.app.paths import default_state_dir

    if url is None:
        path = (state_dir or default_state_dir()) / "counters.sqlite3"
        return f"sqlite:///{path.resolve()}", path.exists()
    text = url.strip()
    lowered = text.lower()
    if lowered.startswith("memory:"):
        open_counter_store(text)  # validates the form; a fresh memory store holds nothing
        return text, False
    if lowered.startswith("sqlite:"):
        rest = text[len("sqlite:") :]
        if rest.startswith("//") and len(rest) > 2:
            return text, Path(rest[2:]).expanduser().exists()
        open_counter_store(text)  # raises the usual located ConfigError
        return text, False
    if (
        url_scheme(text) is not None
    ):  # another backend (Redis): ConfigError when unknown or unavailable
        import anyio

        anyio.run(open_counter_store(text).aclose)
        return text, True
    return text, Path(text).expanduser().exists()


def read_counters(
    url: str, namespace: str, refs: Sequence[CounterRef], now: float
) -> dict[CounterRef, Decimal]:
    """Each counter's value at `now` in `namespace` (zero when never charged)."""
    import anyio

    from toolgate.app.counter_store import open_counter_store
    from toolgate.quota.ledger import Ledger

    async def read() -> dict[CounterRef, Decimal]:
        clock = _FixedClock(now)
        store = open_counter_store(url, clock=clock)
        try:
            return await Ledger(store, namespace, clock).snapshot(refs)
        finally:
            await store.aclose()

    return anyio.run(read)
