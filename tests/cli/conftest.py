"""A real SQLite store with known contents, and a runner for the ``moorline`` command."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from click.testing import CliRunner, Result

from moorline.bootstrap import Settings, build_services
from moorline.cli.main import cli
from moorline.tracking.models import (
    TAG_DATASET_CONTEXT,
    Dataset,
    DatasetInput,
    Metric,
    Param,
    RunStatus,
)


@dataclass
class Store:
    uri: str
    artifacts: str
    runs: dict[str, str] = field(default_factory=dict)  # run name -> run id
    churn_id: str = ""
    old_id: str = ""

    def invoke(self, *args: str) -> Result:
        """Run ``moorline --store ... --artifacts ... ARGS`` in-process."""
        runner = CliRunner()
        return runner.invoke(
            cli, ["--store", self.uri, "--artifacts", self.artifacts, *args], catch_exceptions=False
        )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Experiments churn (three runs) and old (deleted); run 'a' has inputs and artifacts."""
    root = tmp_path_factory.mktemp("cli-store")
    s = Store(uri=f"sqlite:///{root / 'moorline.db'}", artifacts=str(root / "artifacts"))
    services = build_services(Settings.from_env(store_uri=s.uri, artifacts_uri=s.artifacts))
    try:
        t = services.tracking
        s.churn_id = t.create_experiment("churn", tags={"team": "ads"})
        s.old_id = t.create_experiment("old")
        t.delete_experiment(s.old_id)
        rows = [
            ("a", {"lr": "0.1", "depth": "6"}, {"acc": 0.9, "loss": 0.3}, 1_000),
            ("b", {"lr": "0.01", "depth": "6"}, {"acc": 0.95, "loss": math.nan}, 2_000),
            ("c", {"lr": "0.1"}, {"acc": 0.7}, 3_000),
        ]
        for name, params, metrics, start in rows:
            run = t.create_run(
                s.churn_id, user_id="ana", run_name=name, start_time=1_700_000_000_000 + start
            )
            t.log_batch(
                run.run_id,
                params=[Param(key=k, value=v) for k, v in params.items()],
                metrics=[
                    Metric(key=k, value=v, timestamp=1_700_000_100_000, step=5)
                    for k, v in metrics.items()
                ],
            )
            t.set_tag(run.run_id, "note", "[bold]not markup[/]")
            s.runs[name] = run.run_id
        a = s.runs["a"]
        t.log_inputs(
            a,
            datasets=[
                DatasetInput(
                    dataset=Dataset(
                        name="customers", digest="abc123", source_type="local", source="data.csv"
                    ),
                    tags={TAG_DATASET_CONTEXT: "training"},
                )
            ],
        )
        services.artifacts.log_run_artifact(a, "model/weights.bin", [b"\x00" * 2048])
        services.artifacts.log_run_artifact(a, "report.html", [b"<h1>hi</h1>"])
        t.end_run(a, RunStatus.FINISHED)
        t.end_run(s.runs["b"], RunStatus.FAILED)
    finally:
        services.close()
    yield s
