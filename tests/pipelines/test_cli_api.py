"""The shells: ``moorline pipeline`` and ``moorline remediation`` in-process, and
``/api/v1/pipelines`` + ``/api/v1/remediations`` on a real ``moorline server``
whose pipeline scheduler runs the queued run."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from moorline.cli.main import cli
from tests.pipelines.conftest import open_services
from tests.support.live import LiveServer, start_server

pytestmark = pytest.mark.slow

REGISTER = (
    "pipeline",
    "register",
    "fit",
    "--entry-point",
    "jobs:ridge",
    "--model",
    "demand",
    "--data-glob",
    "train.csv",
    "--metric",
    "mae",
    "--label",
    "y",
    "--holdout-glob",
    "holdout.csv",
    "--param",
    "alpha=0.5",
    "--tolerance",
    "rmse=0.05",
)


def invoke(store: str, artifacts: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--store", store, "--artifacts", artifacts, *args], catch_exceptions=False
    )


def test_register_list_show_run_and_read_the_remediation_from_the_cli(
    sqlite_template: Path, repo: Path, tmp_path: Path
) -> None:
    with open_services(sqlite_template, tmp_path / "store") as services:
        store, artifacts = services.settings.store_uri, services.settings.artifacts_uri

        def run(*args: str) -> Result:
            return invoke(store, artifacts, *args)

        made = run(*REGISTER, "--workdir", str(repo))
        assert made.exit_code == 0, made.output
        assert "pipeline fit registered: jobs:ridge -> model demand" in made.output
        missing = run(
            "pipeline",
            "register",
            "nometric",
            "--entry-point",
            "jobs:ridge",
            "--model",
            "m",
            "--label",
            "y",
        )
        assert missing.exit_code == 2 and "--metric is required" in missing.output
        both = run(
            *REGISTER[:3],
            "--entry-point",
            "jobs:ridge",
            "--model",
            "m",
            "--metric",
            "mae",
            "--label",
            "y",
            "--data-glob",
            "a",
            "--data-dataset",
            "b",
            "--holdout-glob",
            "h",
        )
        assert both.exit_code == 2 and "Give exactly one of --data-dataset" in both.output
        again = run(*REGISTER, "--workdir", str(repo))
        assert again.exit_code == 2 and "already exists" in again.output

        listed = run("pipeline", "list")
        assert (
            listed.exit_code == 0 and "fit" in listed.output and "glob:train.csv" in listed.output
        )
        shown = run("pipeline", "show", "fit", "--json")
        assert '"alpha": 0.5' in shown.output and '"rmse": 0.05' in shown.output
        document = json.loads(shown.output)["pipeline"]
        spec = tmp_path / "pipeline.json"
        spec.write_text(json.dumps({**document, "workdir": str(repo), "schedule": "0 4 * * *"}))
        copied = run("pipeline", "register", "fit-copy", "--file", str(spec))
        assert copied.exit_code == 0, copied.output
        assert "cron 0 4 * * *" in copied.output
        copy = services.pipelines.get("fit-copy")
        assert (copy.params, copy.rollout) == (
            services.pipelines.get("fit").params,
            services.pipelines.get("fit").rollout,
        )

        unknown = run("pipeline", "run", "fit", "--param", "depth=3")
        assert unknown.exit_code == 2 and "has no parameter(s) depth" in unknown.output
        ran = run("pipeline", "run", "fit", "--param", "alpha=0.1", "--reason", "new data")
        assert ran.exit_code == 0, ran.output
        assert "SUCCEEDED" in ran.output and "version 1: ACCEPTED" in ran.output
        remediation = ran.output.split("remediation: ")[1].split()[0]

        listed = run("remediation", "list", "--pipeline", "fit")
        assert listed.exit_code == 0 and remediation in listed.output and "ready" in listed.output
        timeline = run("remediation", "show", remediation)
        assert timeline.exit_code == 0, timeline.output
        for expected in (
            "READY",
            "run by",
            "new data",
            "registration",
            "validation",
            "✓ mae: challenger",
            "alias 'challenger'",
        ):
            assert expected in timeline.output, expected
        assert services.registry.get_version_by_alias("demand", "challenger").version == 1

        queued = run("pipeline", "run", "fit", "--queue")
        assert queued.exit_code == 0 and "queued" in queued.output
        runs = run("pipeline", "runs", "fit", "--state", "queued")
        assert runs.exit_code == 0 and runs.output.count("queued") >= 1


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = start_server(tmp_path / "server")
    try:
        yield live
    finally:
        live.stop()


def test_the_server_runs_a_pipeline_queued_over_the_api(server: LiveServer, repo: Path) -> None:
    made = invoke(server.store_uri, server.artifacts, *REGISTER, "--workdir", str(repo))
    assert made.exit_code == 0, made.output
    api = f"{server.url}/api/v1"
    with httpx.Client(timeout=30) as client:
        listed = client.get(f"{api}/pipelines").json()
        assert [p["name"] for p in listed["items"]] == ["fit"]
        assert client.get(f"{api}/pipelines/nope").status_code == 404
        bad = client.post(f"{api}/pipelines/fit/runs", json={"params": {"depth": 3}})
        assert bad.status_code == 400 and "depth" in bad.json()["message"]
        answer = client.post(f"{api}/pipelines/fit/runs", json={"reason": "over http"})
        assert answer.status_code == 202, answer.text
        queued = answer.json()
        assert queued["status"] == "queued" and queued["trigger_kind"] == "manual"
        deadline = time.monotonic() + 180
        run = queued
        while time.monotonic() < deadline and run["status"] in ("queued", "running"):
            time.sleep(0.5)
            run = client.get(f"{api}/pipelines/fit/runs/{queued['id']}").json()
        assert run["status"] == "succeeded", (run, server.log())
        assert run["model_version"] == 1 and run["result"]["decision"]["accepted"]
        assert client.get(f"{api}/pipelines/fit/runs/{'0' * 32}").status_code == 404
        assert client.get(f"{api}/pipelines/fit/runs/not-an-id").status_code == 400
        records = client.get(f"{api}/remediations", params={"pipeline": "fit"}).json()["items"]
        assert [r["id"] for r in records] == [run["remediation_id"]]
        record = client.get(f"{api}/remediations/{run['remediation_id']}").json()
        # Ready; the server's rollout finds no deployment to put a canary in.
        assert record["status"] == "ready"
        steps = [s["step"] for s in record["steps"]]
        assert steps[0] == "trigger" and "validation" in steps and "ready" in steps
        assert steps[-1] in ("ready", "canary")
        assert "over http" in record["steps"][0]["reason"]
        assert client.get(f"{api}/remediations", params={"status": "bogus"}).status_code == 400
