"""Identifier generation. Run ids are 32 lowercase hex digits, as MLflow's."""

from __future__ import annotations

import uuid


def new_hex_id() -> str:
    """A fresh random 32-character lowercase hex id.

    >>> len(new_hex_id())
    32
    """
    return uuid.uuid4().hex
