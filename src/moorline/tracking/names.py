"""Readable generated run names, such as ``brisk-heron-417``."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "amber",
    "bold",
    "brisk",
    "calm",
    "clever",
    "crisp",
    "daring",
    "eager",
    "fair",
    "gentle",
    "glad",
    "grand",
    "keen",
    "lively",
    "lucid",
    "merry",
    "nimble",
    "placid",
    "quick",
    "quiet",
    "rapid",
    "serene",
    "sharp",
    "silent",
    "steady",
    "sunny",
    "swift",
    "tidy",
    "vivid",
    "witty",
)
_NOUNS = (
    "anchor",
    "bay",
    "buoy",
    "cove",
    "current",
    "delta",
    "dune",
    "estuary",
    "fjord",
    "gull",
    "harbor",
    "heron",
    "inlet",
    "island",
    "jetty",
    "keel",
    "lagoon",
    "mast",
    "mooring",
    "otter",
    "pier",
    "quay",
    "reef",
    "sail",
    "shoal",
    "skiff",
    "tern",
    "tide",
    "wharf",
    "whale",
)


def generate_run_name(rng: random.Random | None = None) -> str:
    """A random ``adjective-noun-number`` name.

    >>> generate_run_name(random.Random(0)).count("-")
    2
    """
    r = rng or random
    return f"{r.choice(_ADJECTIVES)}-{r.choice(_NOUNS)}-{r.randint(1, 999)}"
