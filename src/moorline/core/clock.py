"""Time in integer milliseconds since the epoch, the unit of every stored timestamp."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Current wall-clock time in milliseconds."""
    return time.time_ns() // 1_000_000
