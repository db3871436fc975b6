"""Artifacts through the unmodified mlflow client and the artifact proxy: upload, list, download."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from tests.support.live import LiveServer

pytestmark = pytest.mark.compat


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)).replace(os.sep, "/"): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def local_tree(tmp_path: Path) -> Path:
    root = tmp_path / "outputs"
    (root / "plots" / "deep").mkdir(parents=True)
    (root / "report.txt").write_text("accuracy 0.97\n")
    (root / "plots" / "curve.png").write_bytes(bytes(range(256)) * 40)
    (root / "plots" / "deep" / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (root / "plots" / "deep" / "empty.txt").write_bytes(b"")
    return root


def test_log_and_download_files_and_directories(
    experiment_id: str, local_tree: Path, tmp_path: Path
) -> None:
    single = tmp_path / "notes.md"
    single.write_text("# notes\nünïcode ✓\n")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(single))
        mlflow.log_artifact(str(single), artifact_path="docs")
        mlflow.log_artifacts(str(local_tree), artifact_path="outputs")
    run_id = run.info.run_id
    client = MlflowClient()

    top = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in top] == [
        ("docs", True),
        ("notes.md", False),
        ("outputs", True),
    ]
    assert top[1].file_size == single.stat().st_size
    listed = client.list_artifacts(run_id, "outputs/plots")
    assert [(f.path, f.is_dir) for f in listed] == [
        ("outputs/plots/curve.png", False),
        ("outputs/plots/deep", True),
    ]

    got_file = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="docs/notes.md", dst_path=str(tmp_path / "dl1")
    )
    assert filecmp.cmp(got_file, single, shallow=False)

    got_dir = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="outputs", dst_path=str(tmp_path / "dl2")
    )
    assert _tree(Path(got_dir)) == _tree(local_tree)

    everything = client.download_artifacts(run_id, "", dst_path=str(tmp_path / "dl3"))
    assert set(_tree(Path(everything))) == {
        "notes.md",
        "docs/notes.md",
        *(f"outputs/{k}" for k in _tree(local_tree)),
    }


def test_download_by_artifact_uri(experiment_id: str, tmp_path: Path) -> None:
    source = tmp_path / "table.csv"
    source.write_text("a,b\n1,2\n")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source), artifact_path="data")
    uri = f"{run.info.artifact_uri}/data/table.csv"
    assert uri.startswith("mlflow-artifacts:/")
    assert mlflow.artifacts.load_text(uri) == "a,b\n1,2\n"


def test_artifacts_land_under_the_server_root(
    experiment_id: str, tmp_path: Path, moorline_server: LiveServer
) -> None:
    source = tmp_path / "x.txt"
    source.write_text("x")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source), artifact_path="sub")
    stored = Path(moorline_server.artifacts) / experiment_id / run.info.run_id / "artifacts"
    assert (stored / "sub" / "x.txt").read_text() == "x"


def test_listing_a_missing_path_is_empty(experiment_id: str) -> None:
    with mlflow.start_run() as run:
        pass
    assert MlflowClient().list_artifacts(run.info.run_id, "nothing/here") == []
