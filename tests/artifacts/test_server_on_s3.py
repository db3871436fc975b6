"""The server with its artifact root on S3 (moto on loopback), driven by the mlflow client."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import boto3
import pytest
from blobstore_support import DUMMY_CREDENTIALS
from tests.support.live import MOORLINE, LiveServer, free_port, wait_ready

CLIENT = textwrap.dedent(
    """
    import filecmp, os, sys, tempfile
    import mlflow

    src = sys.argv[1]
    mlflow.set_experiment("on-s3")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(src, artifact_path="bundle")
    out = tempfile.mkdtemp()
    path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="bundle",
                                               dst_path=out)
    cmp = filecmp.dircmp(src, path)
    assert not cmp.diff_files and not cmp.left_only and not cmp.right_only, cmp.report()
    assert filecmp.cmp(os.path.join(src, "sub", "big.bin"), os.path.join(path, "sub", "big.bin"),
                       shallow=False)
    print(run.info.run_id, run.info.experiment_id)
    """
)


@pytest.mark.s3
def test_mlflow_client_artifacts_land_in_s3(moto_s3: object, tmp_path: Path) -> None:
    endpoint = moto_s3.endpoint_url  # type: ignore[attr-defined]
    bucket = moto_s3.bucket  # type: ignore[attr-defined]
    prefix = f"srv-{uuid.uuid4().hex[:8]}"
    env = {
        **DUMMY_CREDENTIALS,
        "MOORLINE_S3_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    }
    port = free_port()
    log_path = tmp_path / "s3-server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                MOORLINE,
                "server",
                "--port",
                str(port),
                "--store",
                f"sqlite:///{tmp_path / 'm.db'}",
                "--artifacts",
                f"s3://{bucket}/{prefix}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    live = LiveServer(
        url=f"http://127.0.0.1:{port}",
        process=proc,
        store_uri="",
        artifacts=f"s3://{bucket}/{prefix}",
        log_path=log_path,
    )
    wait_ready(live)
    try:
        src = tmp_path / "src"
        (src / "sub").mkdir(parents=True)
        (src / "a.txt").write_text("hello s3\n")
        (src / "sub" / "big.bin").write_bytes(os.urandom(6 * 1024 * 1024 + 17))
        result = subprocess.run(
            [sys.executable, "-c", CLIENT, str(src)],
            capture_output=True,
            text=True,
            timeout=180,
            env={
                **os.environ,
                "MLFLOW_TRACKING_URI": live.url,
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                "MLFLOW_DISABLE_TELEMETRY": "true",
            },
        )
        assert result.returncode == 0, result.stderr + live.log()
        run_id, exp_id = result.stdout.split()[-2:]
        s3 = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=DUMMY_CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{exp_id}/{run_id}/")
        keys = sorted(o["Key"] for o in listed.get("Contents", []))
        assert keys == [
            f"{prefix}/{exp_id}/{run_id}/artifacts/bundle/a.txt",
            f"{prefix}/{exp_id}/{run_id}/artifacts/bundle/sub/big.bin",
        ]
    finally:
        live.stop()
