"""The pure pin logic: observing listings, verdicts, accepting and resetting."""

from __future__ import annotations

import pytest

from toolgate.catalog.pins import Pin, UnknownToolsError, accept, observe, reset, short, verdict

A, B, C = "sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64


def test_first_use_pins_every_listed_tool_as_accepted() -> None:
    book, changes = observe({}, {"x": A, "y": B}, "t0", trust_new=True)
    assert {name: pin.state for name, pin in book.items()} == {"x": "accepted", "y": "accepted"}
    assert [(c.tool, c.kind) for c in changes] == [("x", "pinned"), ("y", "pinned")]


def test_a_tool_added_after_first_use_is_new_and_not_allowed() -> None:
    book, _ = observe({}, {"x": A}, "t0", trust_new=True)
    book, changes = observe(book, {"x": A, "y": B}, "t1", trust_new=False)
    assert [(c.tool, c.kind) for c in changes] == [("y", "new")]
    assert not verdict(book, "y", B).allowed
    assert verdict(book, "x", A).allowed


def test_a_changed_definition_is_reported_once_and_blocked_until_accepted() -> None:
    book, _ = observe({}, {"x": A}, "t0", trust_new=True)
    book, changes = observe(book, {"x": B}, "t1", trust_new=False)
    assert [(c.kind, c.old_hash, c.new_hash) for c in changes] == [("changed", A, B)]
    _, again = observe(book, {"x": B}, "t2", trust_new=False)
    assert again == []
    found = verdict(book, "x", B)
    assert (found.allowed, found.state, found.accepted, found.current) == (False, "changed", A, B)
    book, accepted = accept(book, ["x"])
    assert [(c.kind, c.new_hash) for c in accepted] == [("accepted", B)]
    assert verdict(book, "x", B).allowed


def test_a_definition_that_changes_back_to_the_accepted_one_is_allowed_again() -> None:
    book, _ = observe({}, {"x": A}, "t0", trust_new=True)
    book, _ = observe(book, {"x": B}, "t1", trust_new=False)
    book, changes = observe(book, {"x": A}, "t2", trust_new=False)
    assert changes == []
    assert verdict(book, "x", A).allowed


def test_without_a_listing_the_stored_pin_alone_decides() -> None:
    book = {"ok": Pin("t0", A, A, "t0"), "moved": Pin("t0", A, C, "t1")}
    assert verdict(book, "ok", None).allowed
    assert verdict(book, "moved", None).state == "changed"
    assert verdict(book, "never", None).state == "unknown"


def test_accepting_or_resetting_an_unpinned_tool_names_it() -> None:
    book = {"x": Pin("t0", A, A, "t0")}
    with pytest.raises(UnknownToolsError) as caught:
        accept(book, ["x", "nope"])
    assert caught.value.names == ["nope"]
    with pytest.raises(UnknownToolsError):
        reset(book, ["nope"])


def test_reset_all_forgets_every_pin() -> None:
    book = {"x": Pin("t0", A, A, "t0"), "y": Pin("t0", None, B, "t0")}
    empty, changes = reset(book, None)
    assert empty == {}
    assert sorted(c.tool for c in changes) == ["x", "y"]


def test_hashes_are_shown_shortened() -> None:
    assert short(A) == "sha256:aaaaaaaaaaaa…"
    assert short(None) == "none"
