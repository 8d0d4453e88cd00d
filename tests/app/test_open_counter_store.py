"""open_counter_store: every URL form picks its backend; anything else is a ConfigError.

(Tests app/counter_store.py; kept here until tests/app/ exists.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from toolgate.app.counter_store import open_counter_store, redact_url
from toolgate.errors import ConfigError
from toolgate.stores.memory import MemoryCounterStore
from toolgate.stores.redis_counters import RedisCounterStore
from toolgate.stores.sqlite import SqliteCounterStore

pytestmark = pytest.mark.anyio


async def test_memory_url_opens_a_memory_store() -> None:
    store = open_counter_store("memory://")
    assert isinstance(store, MemoryCounterStore)
    await store.aclose()


async def test_sqlite_url_with_three_slashes_opens_an_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "counters.db"
    store = open_counter_store(f"sqlite://{path}")  # path is absolute: sqlite:///tmp/...
    assert isinstance(store, SqliteCounterStore)
    assert store.path == path
    assert path.exists()
    await store.aclose()


async def test_sqlite_url_with_two_slashes_opens_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_counter_store("sqlite://relative.db")
    assert isinstance(store, SqliteCounterStore)
    assert store.path == Path("relative.db")
    assert (tmp_path / "relative.db").exists()
    await store.aclose()


@pytest.mark.parametrize("form", ["absolute", "relative"])
async def test_a_plain_path_opens_an_sqlite_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    monkeypatch.chdir(tmp_path)
    url = str(tmp_path / "plain.db") if form == "absolute" else "data/plain.db"
    store = open_counter_store(url)
    assert isinstance(store, SqliteCounterStore)
    assert store.path.resolve() == (tmp_path / url).resolve()
    await store.aclose()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "memory:",
        "memory:///x",
        "memory://?size=10",
        "sqlite:",
        "sqlite:relative.db",
        "sqlite://",
        "sqlite:///",
        "sqlite:///tmp/x.db?mode=ro",
        "http://example.com/counters",
        "postgres://localhost/db",
    ],
)
def test_garbage_urls_give_a_config_error_naming_them(url: str) -> None:
    with pytest.raises(ConfigError, match="counter store URL") as caught:
        open_counter_store(url)
    if url.strip():
        assert repr(url) in str(caught.value)


async def test_redis_urls_open_a_redis_store_that_shows_its_url_without_the_password() -> None:
    store = open_counter_store("redis://user:hunter2@cache:6379/0")
    assert isinstance(store, RedisCounterStore)
    assert store.url == "redis://***@cache:6379/0"
    await store.aclose()


def test_unsupported_redis_schemes_are_config_errors_without_the_password() -> None:
    with pytest.raises(ConfigError, match="not supported") as caught:
        open_counter_store("redis+sentinel://user:hunter2@cache:26379/0")
    assert "hunter2" not in str(caught.value)
    assert "redis+sentinel://***@cache:26379/0" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rediss://:p%40ss@h:6380", "rediss://***@h:6380"),
        ("redis://a:b@c@h/0", "redis://***@h/0"),
        ("redis://h:6379", "redis://h:6379"),
        ("sqlite:///srv/a@b.db", "sqlite:///srv/a@b.db"),
    ],
)
def test_redaction_masks_user_info_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown
