"""The pin file: round trip, atomic update, and garbage reported and never overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolgate.catalog.pins import Pin, accept
from toolgate.catalog.pins_file import PinFile, PinFileError, pin_path

A = "sha256:" + "a" * 64


def test_pins_round_trip_through_the_file(tmp_path: Path) -> None:
    pins = PinFile(pin_path(tmp_path, "server:abc"), "server:abc")
    assert pins.load() == {}
    book = {"x": Pin("2026-01-01T00:00:00Z", None, A, "2026-01-01T00:00:00Z")}
    pins.update(lambda stored: (book, None))
    assert pins.load() == book
    pins.update(lambda stored: accept(stored, ["x"]))
    assert pins.load()["x"].state == "accepted"
    assert [p.name for p in pins.path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_namespaces_with_odd_characters_get_distinct_safe_file_names(tmp_path: Path) -> None:
    one, two = pin_path(tmp_path, "a/b"), pin_path(tmp_path, "a_b")
    assert one != two
    assert one.parent == two.parent == tmp_path / "pins"
    assert pin_path(tmp_path, "server:abc").name.startswith("server_abc-")
    assert pin_path(tmp_path, "plain").name == "plain.json"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a version 1 pin file"),
        (b'{"version": 1, "tools": []}', '"tools" must be an object'),
        (b'{"version": 1, "tools": {"x": {"latest": 3}}}', 'tool "x" must have'),
        (
            b'{"version": 1, "tools": {"x": {"first_seen": "t", "accepted": 1, '
            b'"latest": "h", "latest_seen": "t"}}}',
            "wrong type",
        ),
    ],
)
def test_a_garbage_pin_file_is_a_clear_error_and_is_not_overwritten(
    tmp_path: Path, content: bytes, why: str
) -> None:
    pins = PinFile(pin_path(tmp_path, "ns"), "ns")
    pins.path.parent.mkdir(parents=True)
    pins.path.write_bytes(content)
    with pytest.raises(PinFileError, match=why) as caught:
        pins.load()
    assert str(pins.path) in str(caught.value)
    with pytest.raises(PinFileError):
        pins.update(lambda stored: ({}, None))
    assert pins.path.read_bytes() == content
