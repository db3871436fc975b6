"""The installed ``moorline`` executable, as a user or a script runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import Store

MOORLINE = str(Path(sys.executable).parent / "moorline")


def test_help_lists_the_tracking_commands() -> None:
    proc = subprocess.run([MOORLINE, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "experiments" in proc.stdout and "runs" in proc.stdout


def test_runs_list_json_through_the_environment(store: Store) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOORLINE_")}
    env["MOORLINE_TRACKING_URI"] = store.uri
    env["MOORLINE_ARTIFACTS_URI"] = store.artifacts
    proc = subprocess.run(
        [MOORLINE, "runs", "list", "--experiment", "churn", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["run_id"] for r in json.loads(proc.stdout)] == [
        store.runs["c"],
        store.runs["b"],
        store.runs["a"],
    ]
    missing = subprocess.run(
        [MOORLINE, "runs", "show", "0" * 32], capture_output=True, text=True, env=env, timeout=60
    )
    assert missing.returncode == 2
    assert "RESOURCE_DOES_NOT_EXIST" in missing.stderr
