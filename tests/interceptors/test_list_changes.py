"""Which reloads are announced to clients as a changed tool list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.interceptors.rig import SilentClient

from toolgate.clock import FakeClock
from toolgate.interceptors.enforcement import PolicyEnforcer
from toolgate.interceptors.list_changes import ListChangeAnnouncer
from toolgate.interceptors.policy_source import PolicySource
from toolgate.pipeline.session import Session
from toolgate.policy.loader import load_policy_text
from toolgate.quota.ledger import Ledger
from toolgate.stores.memory import MemoryCounterStore


def policy(hide: str) -> object:
    return load_policy_text(f'version: "1"\nhide: {hide}\ntools: {{}}\n', "p.yaml")


@pytest.fixture
def tmp_announcer(tmp_path: Path) -> Iterator[tuple[ListChangeAnnouncer, PolicyEnforcer]]:
    subject, enforcer = announcer(tmp_path)
    yield subject, enforcer
    subject.close()


def announcer(tmp_path: Path) -> tuple[ListChangeAnnouncer, PolicyEnforcer]:
    path = tmp_path / "p.yaml"
    path.write_text('version: "1"\ntools: {}\n')
    clock = FakeClock()
    enforcer = PolicyEnforcer(
        PolicySource(path),
        Ledger(MemoryCounterStore(clock), "t", clock),
        None,
        clock,  # type: ignore[arg-type]
    )
    return ListChangeAnnouncer(enforcer.source, enforcer, Session(SilentClient())), enforcer


def test_a_reload_that_changes_a_shown_tools_visibility_is_announced(
    tmp_announcer: tuple[ListChangeAnnouncer, PolicyEnforcer],
) -> None:
    subject, enforcer = tmp_announcer
    enforcer.seen_tools.update({"a", "b"})
    assert subject.visible_set_changed(policy("[]"), policy("[a]"))  # type: ignore[arg-type]
    assert not subject.visible_set_changed(policy("[]"), policy("[zzz]"))  # type: ignore[arg-type]


def test_after_unfiltered_lists_any_change_of_what_is_hidden_is_announced(
    tmp_announcer: tuple[ListChangeAnnouncer, PolicyEnforcer],
) -> None:
    subject, enforcer = tmp_announcer
    assert not subject.visible_set_changed(policy("[]"), policy("[x]"))  # type: ignore[arg-type]
    enforcer.unfiltered_lists = True
    assert subject.visible_set_changed(policy("[]"), policy("[x]"))  # type: ignore[arg-type]
    assert not subject.visible_set_changed(policy("[x]"), policy("[x]"))  # type: ignore[arg-type]
