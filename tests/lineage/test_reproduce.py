"""``moorline reproduce``: the recorded entry point at the recorded commit, compared.

Each reproduction really checks out a worktree and trains again in a
subprocess (a few seconds each), so the cases are few and each asserts a lot.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from moorline.registry.lineage import TAG_REPRODUCTION_OF
from moorline.registry.reproduce import store_environment
from moorline.sdk._fluent import TAG_PARENT_RUN_ID
from moorline.tracking.models import TAG_GIT_COMMIT, TAG_SOURCE_NAME, Param
from tests.lineage.conftest import Project, git

#: Most cases train in a subprocess (seconds each).
pytestmark = pytest.mark.slow


def reproduce(project: Project, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    result = project.invoke("reproduce", *args, "--repo", str(project.repo), "--json")
    report = json.loads(result.stdout) if result.exit_code in (0, 1) else None
    return result.exit_code, report, " ".join(result.stderr.split())  # unwrapped by rich


def worktrees(repo: Path) -> list[str]:
    listing = git(repo, "worktree", "list", "--porcelain")
    return [line for line in listing.splitlines() if line.startswith("worktree ")]


def test_a_deterministic_training_reproduces_identically(project: Project) -> None:
    code, report, err = reproduce(project, "models:/churn@champion")
    assert code == 0, err
    assert report is not None
    assert report["identical"] is True
    assert report["original_run_id"] == project.run_id
    assert report["commit"] == project.commit
    assert report["entry_point"] == str((project.repo / "train.py").resolve())
    assert [m["key"] for m in report["metrics"]] == ["accuracy", "log_loss"]
    assert all(m["abs_diff"] == 0.0 and m["identical"] for m in report["metrics"])
    assert all(m["original"] == m["reproduced"] for m in report["metrics"])
    assert worktrees(project.repo) == [f"worktree {project.repo.resolve()}"]  # cleaned up

    services = project.services()
    try:
        new = services.tracking.get_run(report["reproduced_run_id"])
        original = services.tracking.get_run(project.run_id)
    finally:
        services.close()
    assert new.run_id != project.run_id
    assert new.tags[TAG_REPRODUCTION_OF] == project.run_id
    assert new.tags[TAG_PARENT_RUN_ID] == project.run_id
    assert new.tags[TAG_GIT_COMMIT] == project.commit
    assert new.tags[TAG_SOURCE_NAME] != original.tags[TAG_SOURCE_NAME]  # it ran in a worktree
    # The recorded params reached the script (it ran without the "0.5" argument) ...
    assert new.params == original.params == {"C": "0.5", "seed": "0"}
    # ... and load_dataset returned the version the original read, not the newer one.
    assert [d.dataset.digest for d in new.dataset_inputs] == [project.train_v1.digest]


def test_a_reproduction_that_differs_exits_1_with_the_differences(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAIN_NOISE", "0.125")
    code, report, err = reproduce(project, project.run_id)  # a run id works as a target
    assert code == 1, err
    assert report is not None and report["identical"] is False
    metrics = {m["key"]: m for m in report["metrics"]}
    assert metrics["accuracy"]["identical"] is False
    assert metrics["accuracy"]["abs_diff"] == pytest.approx(0.125)
    assert metrics["accuracy"]["reproduced"] == pytest.approx(
        metrics["accuracy"]["original"] + 0.125
    )
    assert metrics["log_loss"]["identical"] is True


def test_a_dirty_run_is_refused_unless_allowed(project: Project) -> None:
    code, _, err = reproduce(project, "models:/churn-dirty/1")
    assert code == 2
    assert "uncommitted changes" in err and "--allow-dirty" in err
    code, report, err = reproduce(project, "models:/churn-dirty/1", "--allow-dirty")
    assert code == 0, err
    assert report is not None and report["identical"] is True


def test_a_module_entry_point_runs_with_the_recorded_params_and_data(project: Project) -> None:
    """A run recorded as ``python -m train``: its own params and inputs are what count."""
    services = project.services()
    try:
        tracking = services.tracking
        original = tracking.get_run(project.run_id)
        run = tracking.create_run(
            original.info.experiment_id,
            run_name="train",
            tags={TAG_GIT_COMMIT: project.commit, TAG_SOURCE_NAME: "train"},
        )
        tracking.log_batch(
            run.run_id,
            params=[Param(key=k, value=v) for k, v in original.params.items()],
            metrics=list(original.metrics),
        )
        tracking.log_inputs(run.run_id, datasets=original.dataset_inputs)
        tracking.end_run(run.run_id)
    finally:
        services.close()
    code, report, err = reproduce(project, run.run_id)
    assert code == 0, err
    assert report is not None and report["identical"] is True
    assert report["command"][1:] == ["-m", "train"]


def test_a_failing_entry_point_exits_5_with_its_output(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAIN_FAIL", "1")
    result = project.invoke("reproduce", "models:/churn/1", "--repo", str(project.repo))
    assert result.exit_code == 5
    err = " ".join(result.stderr.split())
    assert "exited with code 1" in err
    assert "training failed on purpose" in err
    assert worktrees(project.repo) == [f"worktree {project.repo.resolve()}"]


def test_what_cannot_be_reproduced_is_named(project: Project, tmp_path: Path) -> None:
    services = project.services()
    try:
        tracking = services.tracking
        bare = tracking.create_run("0", run_name="no git")
        stdin = tracking.create_run(
            "0", tags={TAG_GIT_COMMIT: project.commit, TAG_SOURCE_NAME: "<stdin>"}
        )
        elsewhere = tracking.create_run(
            "0", tags={TAG_GIT_COMMIT: "f" * 40, TAG_SOURCE_NAME: "train.py"}
        )
        odd = tracking.create_run(
            "0", tags={TAG_GIT_COMMIT: project.commit, TAG_SOURCE_NAME: "-cimport os"}
        )
    finally:
        services.close()
    code, _, err = reproduce(project, bare.run_id)
    assert code == 2 and "recorded no git commit" in err
    code, _, err = reproduce(project, stdin.run_id)
    assert code == 2 and "interactive session" in err
    code, _, err = reproduce(project, elsewhere.run_id)
    assert code == 2 and f"Commit {'f' * 40} is not in the repository" in err
    code, _, err = reproduce(project, odd.run_id)
    assert code == 2 and "Invalid entry point '-cimport os'" in err
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    result = project.invoke("reproduce", project.run_id, "--repo", str(outside))
    assert result.exit_code == 2 and "not inside a git repository" in " ".join(
        result.stderr.split()
    )


def test_the_subprocess_gets_absolute_store_locations() -> None:
    env = store_environment(
        store_uri="sqlite:///rel/m.db",
        artifacts_uri="rel/artifacts",
        s3_endpoint_url="http://127.0.0.1:9000",
        token="secret",
        cwd=Path("/work/here"),
    )
    assert env == {
        "MOORLINE_TRACKING_URI": "sqlite:////work/here/rel/m.db",
        "MOORLINE_ARTIFACTS_URI": "/work/here/rel/artifacts",
        "MOORLINE_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "MOORLINE_TOKEN": "secret",
    }
    remote = store_environment(store_uri="http://h:5000", artifacts_uri="s3://b/p")
    assert remote == {
        "MOORLINE_TRACKING_URI": "http://h:5000",
        "MOORLINE_ARTIFACTS_URI": "s3://b/p",
    }
    assert subprocess.run(["git", "--version"], capture_output=True, check=False).returncode == 0


def test_start_run_takes_the_parent_and_tags_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moorline
    from moorline.errors import InvalidArgument

    monkeypatch.setenv("MOORLINE_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    monkeypatch.setenv("MOORLINE_ARTIFACTS_URI", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MOORLINE_PARENT_RUN_ID", "a" * 32)
    monkeypatch.setenv("MOORLINE_RUN_TAGS", json.dumps({TAG_REPRODUCTION_OF: "a" * 32}))
    moorline.set_tracking_uri(None)
    try:
        with moorline.start_run() as outer:
            with moorline.start_run(nested=True) as inner:
                pass
        client = moorline.Client()
        outer_tags = client.get_run(outer.run_id).tags
        inner_tags = client.get_run(inner.run_id).tags
        assert outer_tags[TAG_PARENT_RUN_ID] == "a" * 32
        assert outer_tags[TAG_REPRODUCTION_OF] == "a" * 32
        assert inner_tags[TAG_PARENT_RUN_ID] == outer.run_id  # nesting wins inside a process
        assert TAG_REPRODUCTION_OF not in inner_tags
        monkeypatch.setenv("MOORLINE_RUN_TAGS", "[1, 2]")
        with pytest.raises(InvalidArgument, match="MOORLINE_RUN_TAGS must be a JSON object"):
            moorline.start_run()
    finally:
        while moorline.active_run() is not None:
            moorline.end_run()
        moorline.set_tracking_uri(None)
