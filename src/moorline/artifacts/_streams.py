"""Chunk iterators shared by the blob-store adapters.

A read hands the caller an iterator over an open resource (a file, an HTTP
response body). :class:`ClosingChunks` releases that resource as soon as the
iterator is exhausted, closed or garbage-collected, so a caller that stops
reading early never leaks a file descriptor or a pooled connection.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import BinaryIO


class ClosingChunks(Iterator[bytes]):
    """Iterate ``chunks`` and call ``close`` exactly once when done.

    ``close`` runs when the chunks run out, when :meth:`close` is called
    (``contextlib.closing`` works), or when the iterator is collected.
    """

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._close: Callable[[], None] | None = close

    def __iter__(self) -> ClosingChunks:
        return self

    def __next__(self) -> bytes:
        if self._close is None:
            raise StopIteration
        try:
            return next(self._chunks)
        except BaseException:
            # Exhausted or failed: either way the resource is no longer needed.
            self.close()
            raise

    def close(self) -> None:
        """Release the underlying resource; later calls do nothing."""
        close, self._close = self._close, None
        if close is not None:
            close()

    def __del__(self) -> None:
        self.close()


def read_chunks(fileobj: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    """Iterate a readable binary file in chunks of at most ``chunk_size`` bytes."""
    return iter(functools.partial(fileobj.read, chunk_size), b"")
