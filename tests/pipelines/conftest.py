"""Pipelines under test: a real user repository (a git checkout with scikit-learn
training code the worker imports), real stores (SQLite, PostgreSQL) and real
worker processes."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from moorline.auth.models import Role
from moorline.bootstrap import Services, Settings, build_services
from moorline.pipelines.models import Evaluation, GlobSource, Pipeline, PipelineRun
from moorline.pipelines.scheduler import run_inline
from moorline.registry.governance import Actor
from moorline.store.sql import upgrade

ADMIN = Actor(name="ana", role=Role.ADMIN)
APPROVER = Actor(name="bo", role=Role.APPROVER)

JOBS = '''
"""Training code of the test repository: what a user writes."""
import os
import time
from pathlib import Path

import pandas as pd
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge


def ridge(ctx):
    frame = ctx.frame()
    ctx.run.log_metric("train_rows", len(frame))
    print(f"training ridge on {len(frame)} rows")
    model = Ridge(alpha=float(ctx.params.get("alpha", 1.0)))
    return model.fit(frame[ctx.features], frame[ctx.label])


def one_feature(ctx):
    """A weaker model: it sees only one of the three features."""
    frame = ctx.frame()
    return Ridge().fit(frame[["a"]].assign(b=0.0, c=0.0), frame[ctx.label])


def mean_only(ctx):
    """The worse challenger: predicts the training mean."""
    frame = ctx.frame()
    return DummyRegressor().fit(frame[ctx.features], frame[ctx.label])


def forest(ctx):
    frame = ctx.frame()
    model = RandomForestRegressor(
        n_estimators=int(ctx.params["trees"]), random_state=int(ctx.params["seed"]), n_jobs=1
    )
    return model.fit(frame[ctx.features], frame[ctx.label])


def broken(ctx):
    print("loading the features")
    rows = ctx.frame()
    raise ValueError(f"column 'temperature' is empty in all {len(rows)} rows")


def sleepy(ctx):
    time.sleep(float(ctx.params["seconds"]))
    return ridge(ctx)


def slow_once(ctx):
    """Slow on the first attempt only (the runner dies during it)."""
    marker = Path(ctx.workdir) / str(ctx.params["marker"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(300)
    return ridge(ctx)


def rows(ctx):
    """A data function: the training window as a DataFrame."""
    return pd.read_csv(Path(__file__).with_name("train.csv"))
'''


def _data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + rng.normal(scale=0.1, size=n)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y})


def make_repo(root: Path) -> Path:
    """A git checkout with ``jobs.py``, ``train.csv`` and ``holdout.csv``, committed."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "jobs.py").write_text(textwrap.dedent(JOBS))
    _data(400, 1).to_csv(root / "train.csv", index=False)
    _data(200, 2).to_csv(root / "holdout.csv", index=False)
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
        "HOME": str(root),
        "PATH": "/usr/bin:/bin",
    }
    for args in (
        ["init", "-q"],
        ["add", "jobs.py", "train.csv", "holdout.csv"],
        ["commit", "-q", "-m", "training code"],
    ):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    return root


def git_head(repo: Path) -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True)
    return out.stdout.decode().strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pipelines-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@contextlib.contextmanager
def open_services(template: Path, folder: Path) -> Iterator[Services]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "moorline.db"
    shutil.copyfile(template, path)
    built = build_services(
        Settings(store_uri=f"sqlite:///{path}", artifacts_uri=str(folder / "artifacts")),
        migrate=False,
    )
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def services(sqlite_template: Path, tmp_path: Path) -> Iterator[Services]:
    with open_services(sqlite_template, tmp_path / "store") as built:
        yield built


def pipeline(name: str, entry_point: str, repo: Path, **changes: Any) -> Pipeline:
    """A regression pipeline on the repository's CSV files, judged on MAE."""
    base = Pipeline(
        name=name,
        entry_point=entry_point,
        model="demand",
        workdir=str(repo),
        data=GlobSource(pattern="train.csv"),
        evaluation=Evaluation(metric="mae", label="y", holdout=GlobSource(pattern="holdout.csv")),
        timeout_seconds=120.0,
    )
    return replace(base, **changes)


def run_now(services: Services, name: str, **params: Any) -> PipelineRun:
    """Trigger ``name`` by hand and run it in this process, as ``moorline pipeline run`` does."""
    queued = services.pipelines.trigger(name, actor=ADMIN, params=params)
    done = run_inline(services.pipelines, queued)
    assert done is not None, "the run stayed queued"
    return done
