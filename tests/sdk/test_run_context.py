"""What a run records about where it ran, checked in real child processes.

Each test runs a small script with the installed interpreter, so the entry
point, the git state and the imported packages are those of a real program.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import moorline
from moorline import RunStatus
from moorline.sdk._environment import git_state
from moorline.tracking.models import (
    TAG_GIT_COMMIT,
    TAG_GIT_DIRTY,
    TAG_PYTHON_ENV,
    TAG_SOURCE_NAME,
    TAG_SOURCE_TYPE,
)

SCRIPT = """
import sys
import orjson  # a third-party package the environment tag must list
import moorline

with moorline.start_run(run_name=sys.argv[1]) as run:
    moorline.log_metric("x", 1.0)
print(run.run_id)
"""


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    out = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.fixture
def store_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOORLINE_")}
    env["MOORLINE_TRACKING_URI"] = f"sqlite:///{tmp_path / 'store' / 'moorline.db'}"
    env["MOORLINE_ARTIFACTS_URI"] = str(tmp_path / "store" / "artifacts")
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> moorline.Run:
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    with moorline.Client(env["MOORLINE_TRACKING_URI"]) as client:
        return client.get_run(proc.stdout.strip().splitlines()[-1])


def test_git_commit_and_dirty_tree_are_recorded(tmp_path: Path, store_env: dict[str, str]) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text(SCRIPT)
    (repo / "data.csv").write_text("a,b\n1,2\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    commit = _git(repo, "rev-parse", "HEAD")

    clean = _run(["train.py", "clean"], repo, store_env)
    assert clean.tags[TAG_GIT_COMMIT] == commit
    assert clean.tags[TAG_GIT_DIRTY] == "false"
    assert clean.tags[TAG_SOURCE_NAME] == str((repo / "train.py").resolve())
    assert clean.tags[TAG_SOURCE_TYPE] == "LOCAL"
    env = json.loads(clean.tags[TAG_PYTHON_ENV])
    assert env["packages"]["orjson"] == orjson.__version__
    assert env["packages"]["moorline"] == moorline.__version__

    (repo / "untracked.txt").write_text("not part of the commit")
    assert _run(["train.py", "untracked"], repo, store_env).tags[TAG_GIT_DIRTY] == "false"

    (repo / "data.csv").write_text("a,b\n1,3\n")  # a tracked file changes
    dirty = _run(["train.py", "dirty"], repo, store_env)
    assert dirty.tags[TAG_GIT_COMMIT] == commit
    assert dirty.tags[TAG_GIT_DIRTY] == "true"


def test_outside_a_repository_no_git_tags(tmp_path: Path, store_env: dict[str, str]) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "train.py").write_text(SCRIPT)
    run = _run(["train.py", "plain"], folder, store_env)
    assert TAG_GIT_COMMIT not in run.tags
    assert TAG_GIT_DIRTY not in run.tags
    assert run.info.status == RunStatus.FINISHED


def test_a_module_entry_point_is_named_by_module(tmp_path: Path, store_env: dict[str, str]) -> None:
    pkg = tmp_path / "proj" / "trainer"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "fit.py").write_text(SCRIPT)
    run = _run(["-m", "trainer.fit", "as-module"], tmp_path / "proj", store_env)
    assert run.tags[TAG_SOURCE_NAME] == "trainer.fit"


def test_git_missing_is_tolerated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable anywhere
    assert git_state(tmp_path) is None


def test_runs_left_open_are_ended_at_exit(tmp_path: Path, store_env: dict[str, str]) -> None:
    """No ``with``: a clean exit ends the run FINISHED, an uncaught exception FAILED."""
    script = tmp_path / "open.py"
    script.write_text(
        "import sys, moorline\n"
        "run = moorline.start_run()\n"
        "print(run.run_id, flush=True)\n"
        "if sys.argv[1] == 'crash':\n"
        "    raise RuntimeError('boom')\n"
    )
    finished = _run([str(script), "ok"], tmp_path, store_env)
    assert finished.info.status == RunStatus.FINISHED

    proc = subprocess.run(
        [sys.executable, str(script), "crash"],
        cwd=tmp_path,
        env=store_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "boom" in proc.stderr
    with moorline.Client(store_env["MOORLINE_TRACKING_URI"]) as client:
        crashed = client.get_run(proc.stdout.strip())
    assert crashed.info.status == RunStatus.FAILED
    assert crashed.info.end_time is not None
