"""The serving domain's records and routing rule, on their own."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from moorline.errors import InvalidArgument
from moorline.serving.models import (
    Deployment,
    DeploymentSettings,
    PolicyKind,
    Route,
    TrafficPolicy,
    validate_deployment_name,
)
from moorline.serving.routing import Router, key_bucket


def test_canary_split_of_10000_requests_is_within_one_point_of_the_weights() -> None:
    router = Router("churn", TrafficPolicy.canary(champion=1, challenger=2, weight=10))
    rng = random.Random(7)
    counts = Counter(router.pick(rng.random()) for _ in range(10_000))
    assert set(counts) == {1, 2}
    assert abs(counts[2] / 10_000 - 0.10) <= 0.01
    assert abs(counts[1] / 10_000 - 0.90) <= 0.01


def test_three_way_split_follows_the_weights() -> None:
    router = Router("d", TrafficPolicy.weighted({1: 50, 2: 30, 3: 20}))
    rng = random.Random(11)
    counts = Counter(router.pick(rng.random()) for _ in range(20_000))
    for version, weight in ((1, 0.5), (2, 0.3), (3, 0.2)):
        assert abs(counts[version] / 20_000 - weight) <= 0.01


def test_ab_is_sticky_by_key_and_spreads_keys_by_weight() -> None:
    router = Router("d", TrafficPolicy.ab({1: 70, 2: 30}))
    rng = random.Random(3)
    chosen = {}
    for i in range(5_000):
        key = f"user-{i}"
        first = router.pick(rng.random(), key=key)
        # the draw is ignored when there is a key: same key, same version, whatever the draw
        assert all(router.pick(rng.random(), key=key) == first for _ in range(3))
        chosen[key] = first
    share = sum(1 for v in chosen.values() if v == 2) / len(chosen)
    assert abs(share - 0.30) <= 0.03
    # and another replica (a new router over the same policy) agrees
    again = Router("d", TrafficPolicy.ab({1: 70, 2: 30}))
    assert all(again.pick(0.5, key=k) == v for k, v in chosen.items())


def test_key_bucket_depends_on_the_deployment() -> None:
    buckets = [key_bucket(d, "user-1") for d in ("a", "b", "c", "d")]
    assert len(set(buckets)) == 4
    assert all(0.0 <= b < 1.0 for b in buckets)


def test_a_zero_weight_route_gets_nothing() -> None:
    router = Router("d", TrafficPolicy.weighted({1: 100, 2: 0}))
    assert {router.pick(x / 100) for x in range(100)} == {1}


def test_shadow_policy_routes_to_primary_and_names_shadows() -> None:
    policy = TrafficPolicy.shadow(primary=3, shadows=[4])
    router = Router("d", policy)
    assert {router.pick(x / 10) for x in range(10)} == {3}
    assert router.shadows == (4,)
    assert policy.versions == (3, 4)
    assert policy.serving_versions == (3,)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TrafficPolicy(kind=PolicyKind.CANARY, routes=()), "at least one"),
        (lambda: TrafficPolicy.weighted({1: 60, 2: 30}), "sum to 100"),
        (lambda: TrafficPolicy.weighted({1: 120, 2: -20}), r"\[0, 100\]"),
        (lambda: TrafficPolicy.canary(champion=1, challenger=1, weight=10), "twice"),
        (lambda: TrafficPolicy.shadow(primary=1, shadows=[1]), "both answer and shadow"),
        (lambda: TrafficPolicy.shadow(primary=1, shadows=[]), "shadow version"),
        (lambda: TrafficPolicy.single(0), "version number"),
        (
            lambda: TrafficPolicy(
                kind=PolicyKind.SINGLE,
                routes=(Route(version=1, weight=50), Route(version=2, weight=50)),
            ),
            "exactly one",
        ),
        (lambda: TrafficPolicy.weighted({1: 100}), "2\\+ versions"),
    ],
)
def test_bad_policies_are_refused_with_a_clear_message(build: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        build()  # type: ignore[operator]


def test_policy_json_round_trip_and_bad_json() -> None:
    for policy in (
        TrafficPolicy.single(2),
        TrafficPolicy.canary(champion=1, challenger=2, weight=12.5),
        TrafficPolicy.ab({1: 50, 2: 50}),
        TrafficPolicy.shadow(primary=1, shadows=[2, 3]),
    ):
        assert TrafficPolicy.from_dict(policy.to_dict()) == policy
    with pytest.raises(InvalidArgument, match="Unknown policy kind"):
        TrafficPolicy.from_dict({"kind": "bandit", "routes": []})
    with pytest.raises(InvalidArgument, match="routes"):
        TrafficPolicy.from_dict({"kind": "single", "routes": "v1"})
    with pytest.raises(InvalidArgument, match="weight must be a number"):
        TrafficPolicy.from_dict({"kind": "single", "routes": [{"version": 1, "weight": "all"}]})


def test_settings_bounds_and_unknown_keys() -> None:
    assert DeploymentSettings.from_dict(None) == DeploymentSettings()
    with pytest.raises(InvalidArgument, match="max_batch_size"):
        DeploymentSettings(max_batch_size=0)
    with pytest.raises(InvalidArgument, match="log_sample"):
        DeploymentSettings(log_sample=1.5)
    with pytest.raises(InvalidArgument, match="timeout_s"):
        DeploymentSettings(timeout_s=float("nan"))
    with pytest.raises(InvalidArgument, match="Unknown deployment setting"):
        DeploymentSettings.from_dict({"max_batch": 8})


def test_names_are_validated() -> None:
    assert validate_deployment_name("a.b-c_1") == "a.b-c_1"
    for bad in ("", "-x", "a/b", "x" * 101, 3):
        with pytest.raises(InvalidArgument):
            validate_deployment_name(bad)
    with pytest.raises(InvalidArgument, match="registered model"):
        Deployment(name="d", model=" ", policy=TrafficPolicy.single(1))
