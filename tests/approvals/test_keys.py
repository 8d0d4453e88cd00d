"""The approval signing key: from the environment (hex or base64url) or a key file made once."""

from __future__ import annotations

import base64
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from toolgate.approvals.keys import KEY_ENV, KEY_FILE, approval_key
from toolgate.errors import ConfigError

SECRET_TEXT = "c0ffee" * 11  # 66 hex digits: a value that must never be echoed


@pytest.fixture(autouse=True)
def no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def test_a_hex_key_in_the_environment_is_used_and_no_file_is_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = os.urandom(32)
    monkeypatch.setenv(KEY_ENV, key.hex())
    assert approval_key(tmp_path / "state") == key
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("padded", [False, True])
def test_a_base64url_key_in_the_environment_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, padded: bool
) -> None:
    key = bytes(range(200, 240))  # 40 bytes, encodes with - and _ and padding
    text = base64.urlsafe_b64encode(key).decode()
    monkeypatch.setenv(KEY_ENV, f"  {text if padded else text.rstrip('=')}\n")
    assert approval_key(tmp_path) == key


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "is set but empty"),
        ("   ", "is set but empty"),
        ("ab" * 31, "too short: it decodes to 31 bytes, at least 32"),
        ("Q" * 40, "too short: it decodes to 30 bytes"),
        ("not a key at all, just some words!!", "is not a key"),
        ("zz" * 40 + "!", "is not a key"),
        ("+/" * 30, "is not a key"),  # standard base64, not base64url
        ("é" * 64, "is not a key"),
        ("A" * 45, "is not a key"),  # a length no base64 text has
        ("AAAA=AAAA" * 8, "is not a key"),
    ],
)
def test_a_bad_key_in_the_environment_names_the_variable_and_hides_the_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, expected: str
) -> None:
    monkeypatch.setenv(KEY_ENV, value)
    with pytest.raises(ConfigError, match=expected) as caught:
        approval_key(tmp_path)
    assert KEY_ENV in str(caught.value)
    if value.strip():
        assert value.strip() not in str(caught.value)


def test_without_the_variable_a_key_file_is_made_once_private_and_read_back(
    tmp_path: Path,
) -> None:
    state = tmp_path / "deep" / "state"
    first = approval_key(state)
    path = state / KEY_FILE
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert bytes.fromhex(path.read_text().strip()) == first
    assert approval_key(state) == first
    assert [p.name for p in state.iterdir()] == [KEY_FILE]  # no temporary file left behind


def test_two_state_dirs_get_different_keys(tmp_path: Path) -> None:
    assert approval_key(tmp_path / "a") != approval_key(tmp_path / "b")


def test_processes_starting_at_once_all_end_up_with_the_same_key(tmp_path: Path) -> None:
    starters = 16
    barrier = threading.Barrier(starters)

    def start() -> bytes:
        barrier.wait(timeout=10)
        return approval_key(tmp_path)

    with ThreadPoolExecutor(starters) as pool:
        keys = list(pool.map(lambda _: start(), range(starters)))
    assert len(set(keys)) == 1
    assert bytes.fromhex((tmp_path / KEY_FILE).read_text()) == keys[0]
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"abcd\n",
        b"ab" * 31 + b"\n",
        b"ab" * 33,
        b"zz" * 32,
        b"\xff" * 64,
        b"ab" * 32 + b" " * 5000,
    ],
)
def test_a_key_file_that_is_not_a_key_is_refused_with_its_path(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / KEY_FILE
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="is not a key") as caught:
        approval_key(tmp_path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == content  # never silently replaced


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    path.write_text("ab" * 32 + "\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable by others \(mode 0644\); run `chmod 600"):
        approval_key(tmp_path)


def test_a_key_file_someone_wrote_by_hand_is_used(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    path.write_text("AB" * 32 + "\n")
    path.chmod(0o600)
    assert approval_key(tmp_path) == b"\xab" * 32


def test_a_directory_where_the_key_file_belongs_is_refused(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).mkdir()
    with pytest.raises(ConfigError, match=f"approval key file {tmp_path / KEY_FILE}"):
        approval_key(tmp_path)


def test_a_state_dir_that_is_a_file_is_refused_with_the_key_path(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match=f"approval key file {blocker / KEY_FILE}"):
        approval_key(blocker)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_state_dir_that_cannot_be_written_is_refused_with_the_key_path(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match=f"cannot create approval key file {locked}"):
            approval_key(locked)
    finally:
        locked.chmod(0o700)
