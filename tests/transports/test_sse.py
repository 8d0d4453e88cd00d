"""The SSE parser and encoder: exact bytes, every line ending, split chunks, limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolgate.transports.sse import SseError, SseEvent, SseParser, encode_event

MESSAGE = b'{"jsonrpc":"2.0","id":1,"result":{"text":"caf\xc3\xa9 \\n ok"}}'


def parse(*chunks: bytes, limit: int = 1 << 20) -> list[SseEvent]:
    parser = SseParser(limit)
    events: list[SseEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_yields_the_same_event(eol: bytes) -> None:
    stream = eol.join([b"event: message", b"id: 7", b"retry: 1500", b"data: " + MESSAGE, b"", b""])
    assert parse(stream) == [SseEvent(MESSAGE, "message", "7", 1500)]


def test_data_bytes_are_exactly_what_the_server_sent() -> None:
    [event] = parse(b"data:" + MESSAGE + b"\n\n")  # no space after the colon
    assert event.data == MESSAGE


def test_multi_line_data_is_joined_with_newlines() -> None:
    [event] = parse(b"data: first\ndata:  second has a space\ndata\n\n")
    assert event.data == b"first\n second has a space\n"


def test_comments_and_unknown_fields_are_ignored() -> None:
    assert parse(b": keep-alive\n\n") == []
    assert parse(b": ping\nfoo: bar\ndata: x\n\n") == [SseEvent(b"x")]


def test_a_priming_event_with_an_id_and_no_data_is_reported() -> None:
    assert parse(b"id: abc\ndata: \n\n") == [SseEvent(b"", "message", "abc")]


def test_an_event_without_a_blank_line_is_not_dispatched() -> None:
    assert parse(b"data: unfinished\n") == []


def test_bad_retry_and_ids_with_nul_are_ignored() -> None:
    assert parse(b"retry: soon\nid: a\x00b\ndata: x\n\n") == [SseEvent(b"x")]


def test_a_crlf_split_across_chunks_is_one_line_break() -> None:
    assert parse(b"data: a\r", b"\ndata: b\r\n\r\n") == [SseEvent(b"a\nb")]


def test_an_event_over_the_limit_is_refused() -> None:
    parser = SseParser(max_event_bytes=100)
    with pytest.raises(SseError, match="larger than 100 bytes"):
        parser.feed(b"data: " + b"x" * 200)


def test_the_limit_counts_an_event_built_over_many_small_chunks() -> None:
    parser = SseParser(max_event_bytes=100)
    parser.feed(b"data: " + b"x" * 40 + b"\n")
    with pytest.raises(SseError):
        for _ in range(10):
            parser.feed(b"data: " + b"y" * 20 + b"\n")


def test_comments_do_not_count_toward_the_limit() -> None:
    parser = SseParser(max_event_bytes=100)
    for _ in range(20):
        assert parser.feed(b": " + b"k" * 50 + b"\n") == []
    assert parser.feed(b"data: ok\n\n") == [SseEvent(b"ok")]


def test_garbage_bytes_never_crash_the_parser() -> None:
    events = parse(b"\xff\xfe\x00garbage:\x00\r\r\n:\n\xffevent: \xff\n\n")
    assert all(isinstance(e, SseEvent) for e in events)


def test_encoding_puts_event_id_and_data_lines() -> None:
    assert encode_event(MESSAGE, "9") == b"event: message\nid: 9\ndata: " + MESSAGE + b"\n\n"
    assert encode_event(b"a\nb", event=None) == b"data: a\ndata: b\n\n"


def test_encoding_refuses_line_breaks_in_ids() -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_event(b"x", "a\nb")


@given(
    data=st.binary().filter(lambda b: b"\r" not in b),
    event_id=st.one_of(st.none(), st.text(alphabet="abc123-", min_size=1)),
    split=st.integers(min_value=0, max_value=200),
)
def test_what_is_encoded_parses_back_the_same_even_when_split(
    data: bytes, event_id: str | None, split: int
) -> None:
    encoded = encode_event(data, event_id)
    cut = min(split, len(encoded))
    [event] = parse(encoded[:cut], encoded[cut:])
    assert (event.data, event.id, event.event) == (data, event_id, "message")
