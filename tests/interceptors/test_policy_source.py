"""The live policy: the next call after an edit sees it; a bad edit keeps the old one."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from toolgate.errors import PolicyValidationError
from toolgate.interceptors.policy_source import PolicySource
from toolgate.policy.evaluator import visible
from toolgate.policy.model import Policy

GOOD = 'version: "1"\ntools: {}\n'
HIDING = 'version: "1"\nhide: [a]\ntools: {}\n'


def test_an_edit_is_seen_by_the_very_next_lookup(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(GOOD)
    source = PolicySource(path)
    assert visible(source.current(), "a")
    path.write_text(HIDING)
    assert not visible(source.current(), "a")
    assert source.reloads == 1


def test_an_edit_of_the_same_size_within_the_same_timestamp_is_still_seen(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text('version: "1"\nhide: [a]\ntools: {}\n')
    source = PolicySource(path)
    stat = path.stat()
    path.write_text('version: "1"\nhide: [b]\ntools: {}\n')
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime
    policy = source.current()
    assert visible(policy, "a")
    assert not visible(policy, "b")


def test_an_invalid_edit_keeps_the_old_policy_and_logs_located_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(HIDING)
    source = PolicySource(path)
    path.write_text('version: "1"\nhide: [b]\ntools: {x: {rules: [{nme: r}]}}\n')
    with caplog.at_level(logging.ERROR, logger="toolgate.policy"):
        policy = source.current()
        source.current()  # the same rejected edit is not re-parsed or re-logged
    assert not visible(policy, "a")
    assert visible(policy, "b")
    assert len(caplog.records) == 1
    assert f"{path}:3:" in caplog.records[0].getMessage()


def test_a_deleted_file_keeps_the_policy_in_force(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(HIDING)
    source = PolicySource(path)
    path.unlink()
    assert not visible(source.current(), "a")


def test_listeners_hear_each_successful_reload(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(GOOD)
    source = PolicySource(path)
    heard: list[tuple[Policy, Policy]] = []
    source.on_change(lambda old, new: heard.append((old, new)))
    path.write_text(HIDING)
    source.current()
    assert len(heard) == 1
    assert heard[0][0].revision != heard[0][1].revision


def test_an_invalid_first_policy_raises_with_every_error(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text('version: "9"\ntools: []\n')
    with pytest.raises(PolicyValidationError) as raised:
        PolicySource(path)
    assert len(raised.value.errors) >= 2
