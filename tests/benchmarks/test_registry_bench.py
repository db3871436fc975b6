"""The registry benchmark's own arithmetic: what it claims about reachable targets.

``benchmarks/registry.py`` is loaded under another module name: ``registry`` is also the
name pytest gives the ``tests/registry`` package.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "registry.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_registry", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_registry"] = module
    spec.loader.exec_module(module)
    return module


def contestant(bench: ModuleType, name: str, figures: dict[str, list[float]]) -> Any:
    # Only the figures matter to the report's arithmetic; no server is started.
    return bench.Contestant(name=name, server=None, worker=None, sampler=None, figures=figures)


def test_alias_points_at_neither_the_first_nor_the_latest_version(bench: ModuleType) -> None:
    for sizes in (bench.Sizes(), bench.Sizes.quick()):
        assert 1 < sizes.alias_version < sizes.versions


def test_client_bounds_cap_rates_and_floor_times(bench: ModuleType) -> None:
    """MLflow at 100 versions/s (10 ms each) with a client needing 2.5 ms CPU per version
    allows at most 4x; a 150 ms search with 40 ms of client CPU allows at best 0.267.
    Whether a target is reachable follows the median bound, as the table's verdict
    follows the median ratio."""
    anchor = {
        "register_versions_per_s": [100.0, 50.0],
        "search_versions_ms": [150.0, 250.0],
        "search_models_ms": [80.0, 80.0],
        "alias_calls_per_s": [200.0, 200.0],
    }
    ours = {
        "register_client_cpu_ms_per_version": [2.5, 2.5],
        "search_versions_client_cpu_ms": [40.0, 40.0],
        "search_models_client_cpu_ms": [8.0, 8.0],
        "alias_client_cpu_ms_per_call": [1.0, 0.0],
    }
    by_name = {
        "mlflow": contestant(bench, "mlflow", anchor),
        "moorline": contestant(bench, "moorline", ours),
    }
    bounds = {b["figure"]: b for b in bench.client_bounds(by_name)}

    register = bounds["register_versions_per_s"]
    assert register["bound"] == "max ratio"
    assert register["rounds"] == pytest.approx([4.0, 8.0])
    # Out of reach in the first round, not in the second (MLflow twice as slow): the
    # verdict follows the median bound, 6x.
    assert register["median"] == pytest.approx(6.0)
    assert register["target_reachable"] is True

    search = bounds["search_versions_ms"]
    assert search["bound"] == "min ratio"
    assert search["rounds"] == pytest.approx([40 / 150, 40 / 250])
    # 0.16 would meet <= 0.20 in the second round, but the median bound is 0.213.
    assert search["target_reachable"] is False

    models = bounds["search_models_ms"]
    assert models["rounds"] == pytest.approx([0.1, 0.1])

    alias = bounds["alias_calls_per_s"]
    assert alias["rounds"][0] == pytest.approx(5.0)
    assert math.isinf(alias["rounds"][1])  # no client CPU measured: no bound


def test_unreachable_target_is_reported(bench: ModuleType) -> None:
    anchor = {
        "register_versions_per_s": [100.0],
        "search_versions_ms": [100.0],
        "search_models_ms": [100.0],
        "alias_calls_per_s": [100.0],
    }
    ours = {
        "register_client_cpu_ms_per_version": [3.0],  # at most 3.3x
        "search_versions_client_cpu_ms": [30.0],  # at best 0.30
        "search_models_client_cpu_ms": [10.0],
        "alias_client_cpu_ms_per_call": [1.0],
    }
    by_name = {
        "mlflow": contestant(bench, "mlflow", anchor),
        "moorline": contestant(bench, "moorline", ours),
    }
    reachable = {b["figure"]: b["target_reachable"] for b in bench.client_bounds(by_name)}
    assert reachable == {
        "register_versions_per_s": False,
        "search_versions_ms": False,
        "search_models_ms": True,
        "alias_calls_per_s": True,
    }


def test_one_contestant_has_no_bounds(bench: ModuleType) -> None:
    only = {"mlflow": contestant(bench, "mlflow", {"register_versions_per_s": [1.0]})}
    assert bench.client_bounds(only) == []
