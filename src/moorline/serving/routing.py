"""Which version answers a request: the pure rule every replica applies.

A :class:`Router` is built once per policy revision (cumulative weights in
basis points) and then picks in O(versions) with no allocation:

- canary: a uniform draw in [0, 1) supplied by the caller;
- A/B: a stable hash of the deployment name and the request key, so the same
  key lands on the same version in every replica and after restarts, and
  keys spread evenly over the weights;
- single and shadow: the one routed version (shadows get copies).

A request to an A/B deployment without a key falls back to the draw.

>>> from moorline.serving.models import TrafficPolicy
>>> r = Router("d", TrafficPolicy.canary(champion=1, challenger=2, weight=10))
>>> r.pick(0.05), r.pick(0.95)
(1, 2)
>>> ab = Router("d", TrafficPolicy.ab({1: 50, 2: 50}))
>>> ab.pick(0.0, key="user-7") == ab.pick(0.99, key="user-7")
True
"""

from __future__ import annotations

import hashlib

from moorline.serving.models import PolicyKind, TrafficPolicy

_SCALE = 10_000


def key_bucket(deployment: str, key: str) -> float:
    """A stable number in [0, 1) for ``key`` within ``deployment``.

    >>> key_bucket("d", "a") == key_bucket("d", "a"), 0 <= key_bucket("d", "a") < 1
    (True, True)
    """
    digest = hashlib.blake2b(f"{deployment}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Router:
    """Picks a version for each request under one policy."""

    __slots__ = ("_bounds", "_deployment", "_sticky", "_versions", "policy", "shadows")

    def __init__(self, deployment: str, policy: TrafficPolicy) -> None:
        self.policy = policy
        self._deployment = deployment
        self._sticky = policy.kind is PolicyKind.AB
        routes = [r for r in policy.routes if r.weight > 0]
        self._versions = tuple(r.version for r in routes)
        bounds: list[int] = []
        total = 0.0
        for r in routes:
            total += r.weight
            bounds.append(round(total / 100.0 * _SCALE))
        bounds[-1] = _SCALE
        self._bounds = tuple(bounds)
        self.shadows = policy.shadows

    def pick(self, draw: float, key: str | None = None) -> int:
        """The version for a request: ``draw`` uniform in [0, 1); ``key`` for A/B."""
        versions = self._versions
        if len(versions) == 1:
            return versions[0]
        if self._sticky and key is not None:
            draw = key_bucket(self._deployment, key)
        point = int(draw * _SCALE)
        for version, bound in zip(versions, self._bounds, strict=True):
            if point < bound:
                return version
        return versions[-1]
