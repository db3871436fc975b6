"""A 256 MiB blob goes up and comes back down without ever sitting in memory.

The stream is generated chunk by chunk and checked by hash on the way back,
so neither the test nor the store may hold the whole blob; tracemalloc's peak
proves the store does not either.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator

import pytest
from blobstore_support import MIB, StoreFactory

from moorline.artifacts.s3 import DEFAULT_PART_SIZE

pytestmark = pytest.mark.slow

TOTAL = 256 * MIB
PEAK_LIMIT = 32 * MIB


def generated(total: int, digest: hashlib._Hash) -> Iterator[bytes]:
    """``total`` bytes in 1 MiB chunks, each different, hashed as they are made."""
    base = bytes(range(256)) * (MIB // 256)
    for index in range(total // MIB):
        chunk = index.to_bytes(8, "big") + base[8:]
        digest.update(chunk)
        yield chunk


def test_a_256_mib_stream_roundtrips_in_bounded_memory(
    backend: str, make_store: StoreFactory
) -> None:
    # The S3 store uses its production part size here, not the tests' minimum.
    store = make_store() if backend == "local" else make_store(part_size=DEFAULT_PART_SIZE)
    store.put_stream("warm-up", [b"x"])  # load clients and lazy imports before measuring
    store.read_bytes("warm-up")

    sent, received = hashlib.sha256(), hashlib.sha256()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        assert store.put_stream("big/blob.bin", generated(TOTAL, sent)) == TOTAL
        size = 0
        for chunk in store.open_stream("big/blob.bin"):
            received.update(chunk)
            size += len(chunk)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()

    assert size == TOTAL
    assert received.hexdigest() == sent.hexdigest()
    assert store.size("big/blob.bin") == TOTAL
    assert peak < PEAK_LIMIT, f"peak Python memory grew by {peak / MIB:.1f} MiB"
    store.delete("big")
