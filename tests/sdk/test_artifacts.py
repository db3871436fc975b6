"""Artifacts through the SDK: files and folders up, listings, and back down, streamed."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

import moorline
from tests.sdk.conftest import Backend

MIB = 1024 * 1024


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_a_file_and_a_folder_round_trip(
    backend: Backend, experiment_name: str, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    report.write_text("<h1>auc 0.91</h1>")
    model_dir = tmp_path / "model"
    (model_dir / "weights").mkdir(parents=True)
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    (model_dir / "weights" / "layer0.bin").write_bytes(os.urandom(4096))
    (model_dir / "weights" / "empty.bin").write_bytes(b"")

    moorline.set_experiment(experiment_name)
    with moorline.start_run() as run:
        assert moorline.log_artifact(report) == "report.html"
        assert moorline.log_artifact(report, artifact_path="reports/v1") == "reports/v1/report.html"
        written = moorline.log_artifacts(model_dir, artifact_path="model")
    assert written == ["model/MLmodel", "model/weights/empty.bin", "model/weights/layer0.bin"]

    client = moorline.Client()
    top = client.list_artifacts(run.run_id)
    assert [(a.path, a.is_dir) for a in top] == [
        ("model", True),
        ("report.html", False),
        ("reports", True),
    ]
    assert next(a for a in top if a.path == "report.html").size == report.stat().st_size
    assert [a.path for a in client.list_artifacts(run.run_id, "model/weights")] == [
        "model/weights/empty.bin",
        "model/weights/layer0.bin",
    ]
    assert b"".join(client.open_artifact(run.run_id, "reports/v1/report.html")) == (
        report.read_bytes()
    )

    one = client.download_artifacts(run.run_id, "report.html", tmp_path / "down1")
    assert one == tmp_path / "down1" / "report.html"
    assert one.read_bytes() == report.read_bytes()

    folder = client.download_artifacts(run.run_id, "model", tmp_path / "down2")
    assert folder == tmp_path / "down2" / "model"
    assert _tree(folder) == _tree(model_dir)

    everything = client.download_artifacts(run.run_id)
    assert sorted(_tree(everything)) == [
        "model/MLmodel",
        "model/weights/empty.bin",
        "model/weights/layer0.bin",
        "report.html",
        "reports/v1/report.html",
    ]


def test_artifact_errors_say_what_is_wrong(
    backend: Backend, experiment_name: str, tmp_path: Path
) -> None:
    moorline.set_experiment(experiment_name)
    with moorline.start_run() as run:
        with pytest.raises(moorline.InvalidArgument, match="not a file"):
            moorline.log_artifact(tmp_path / "missing.txt")
        with pytest.raises(moorline.InvalidArgument, match="not a directory"):
            moorline.log_artifacts(tmp_path / "missing")
        (tmp_path / "a.txt").write_text("a")
        with pytest.raises(moorline.InvalidArgument, match=r"\.\."):
            moorline.log_artifact(tmp_path / "a.txt", artifact_path="../escape")
    with pytest.raises(moorline.NotFound):
        moorline.Client().download_artifacts(run.run_id, "nothing/here", tmp_path / "d")


def test_a_large_file_is_streamed_both_ways(
    backend: Backend, experiment_name: str, tmp_path: Path
) -> None:
    """tracemalloc's peak stays far below the file size on upload and download."""
    size = 32 * MIB
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with source.open("wb") as fh:
        for i in range(size // MIB):
            chunk = i.to_bytes(4, "big") * (MIB // 4)
            digest.update(chunk)
            fh.write(chunk)
    warm = tmp_path / "warm.txt"
    warm.write_text("warm-up")

    moorline.set_experiment(experiment_name)
    client = moorline.Client()
    with moorline.start_run() as run:
        moorline.log_artifact(warm)  # load clients and lazy imports before measuring
        client.download_artifacts(run.run_id, "warm.txt", tmp_path / "warm")
        tracemalloc.start()
        try:
            moorline.log_artifact(source)
            upload_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            down = client.download_artifacts(run.run_id, "big.bin", tmp_path / "down")
            download_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert upload_peak < 8 * MIB, f"upload peak {upload_peak / MIB:.1f} MiB"
    assert download_peak < 8 * MIB, f"download peak {download_peak / MIB:.1f} MiB"
    assert down.stat().st_size == size
    check = hashlib.sha256()
    with down.open("rb") as fh:
        while chunk := fh.read(MIB):
            check.update(chunk)
    assert check.hexdigest() == digest.hexdigest()
