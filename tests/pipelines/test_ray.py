"""The Ray executor: the same seeded pipeline on a local Ray cluster (started by
this test, one CPU) gives the same model metrics as the local executor."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from moorline.pipelines.models import RunState
from tests.pipelines.conftest import open_services, pipeline, run_now

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    ray: Any = pytest.importorskip("ray")
    context = ray.init(
        num_cpus=1,
        include_dashboard=False,
        log_to_driver=False,
        namespace="moorline-tests",
    )
    try:
        yield str(context.address_info["address"])
    finally:
        ray.shutdown()


def test_the_same_pipeline_on_ray_gives_the_same_metrics_as_locally(
    sqlite_template: Path, repo: Path, tmp_path: Path, ray_address: str
) -> None:
    with open_services(sqlite_template, tmp_path / "store") as services:
        svc = services.pipelines
        local = pipeline("forest", "jobs:forest", repo, params={"seed": 7, "trees": 25})
        svc.register(local)
        svc.register(replace(local, name="forest-ray", executor="ray", ray_address=ray_address))
        here = run_now(services, "forest")
        there = run_now(services, "forest-ray")
        assert (here.status, there.status) == (RunState.SUCCEEDED, RunState.SUCCEEDED), (
            here.error,
            there.error,
        )
        assert there.result["execution"]["executor"] == "ray"
        assert there.result["execution"]["ray_task_id"]
        assert here.result["execution"]["executor"] == "local"
        mine, theirs = here.result["evaluation"], there.result["evaluation"]
        assert mine["challenger"] == theirs["challenger"]
        assert mine["challenger"]["mae"] is not None and mine["challenger"]["mae"] < 1.0
        # Same data, so the same snapshot versions; two registered versions of one model.
        assert here.result["data"] == {
            role: {**d, "name": d["name"].replace("forest-ray", "forest")}
            for role, d in there.result["data"].items()
        }
        assert (here.model_version, there.model_version) == (1, 2)
        tracked = services.tracking.get_run(there.tracked_run_id)
        assert tracked.metric("holdout_mae") == mine["challenger"]["mae"]
