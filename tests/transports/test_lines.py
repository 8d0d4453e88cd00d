from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from toolgate.transports.lines import Oversized, iter_lines

pytestmark = pytest.mark.anyio


def chunks(*parts: bytes) -> Callable[[], Awaitable[bytes]]:
    pending = list(parts)

    async def receive() -> bytes:
        return pending.pop(0) if pending else b""

    return receive


async def collect(receive: Callable[[], Awaitable[bytes]], limit: int) -> list[bytes | Oversized]:
    return [line async for line in iter_lines(receive, limit)]


async def test_lines_split_across_chunks_are_joined() -> None:
    got = await collect(chunks(b'{"a":', b"1}\n{", b'"b":2}\n'), 100)
    assert got == [b'{"a":1}', b'{"b":2}']


async def test_blank_lines_are_skipped_and_a_final_unterminated_line_counts() -> None:
    got = await collect(chunks(b"\n\r\n  \nx\ny"), 100)
    assert got == [b"x", b"y"]


async def test_an_oversized_line_is_reported_once_and_the_stream_continues() -> None:
    big = b'{"id":9,"x":"' + b"a" * 200
    got = await collect(chunks(big[:50], big[50:], b'"}\n', b"ok\n"), 64)
    assert isinstance(got[0], Oversized)
    assert got[0].size >= 64
    assert got[0].prefix.startswith(b'{"id":9')
    assert got[1:] == [b"ok"]


async def test_an_oversized_line_within_one_chunk_is_reported_with_its_head() -> None:
    got = await collect(chunks(b"x" * 10 + b"\nshort\n"), 5)
    assert isinstance(got[0], Oversized)
    assert got[0].prefix == b"x" * 10
    assert got[1] == b"short"


async def test_a_line_exactly_at_the_limit_passes() -> None:
    got = await collect(chunks(b"12345\n"), 5)
    assert got == [b"12345"]


async def test_an_unterminated_oversized_tail_is_reported() -> None:
    got = await collect(chunks(b"y" * 30), 10)
    assert len(got) == 1
    assert isinstance(got[0], Oversized)
